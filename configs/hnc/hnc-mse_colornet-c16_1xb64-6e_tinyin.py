# Tiny ImageNet with HNC (mse form): k=20 of the 200 classes, the public mse
# setting's weight (0.07, alpha=0) as in hnc-mse_resnet101_8xb32-120e_in1k.py.
_base_ = ['../_base_/hnc_colornet-c16_tinyin.py']

model = dict(
    head=dict(
        hnc_loss=dict(type='HNCLoss', k=20, mode='mse', alpha=0., loss_weight=0.07)))
