# HNC (mse) on ImageNet-1k, ResNet-101, with the public HNC settings: k=100 of
# 1000 classes, lambda=0.07, squared distance of the negative CAMs to alpha=0;
# schedule as hnc-kd_resnet101_8xb32-120e_in1k.py.
_base_ = './hnc-kd_resnet101_8xb32-120e_in1k.py'

model = dict(head=dict(hnc_loss=dict(mode='mse', alpha=0., loss_weight=0.07)))
