# Tiny ImageNet with HNC (kd form): k=20 of the 200 classes (the paper's 10 %),
# loss_weight=0.03 so that loss_weight*k (0.6) matches the paper's
# ImageNet / ResNet-101 setting (0.0065*100).
_base_ = ['../_base_/hnc_colornet-c16_tinyin.py']

model = dict(
    head=dict(hnc_loss=dict(type='HNCLoss', k=20, mode='kd', loss_weight=0.03)))
