# HNC (kd) on ImageNet-1k, ResNet-152, with the public HNC settings: k=100 of
# 1000 classes, lambda=0.0048, SGD lr 0.1 (batch 256 = 8 GPUs x 32), momentum 0.9,
# weight decay 1e-4, lr x0.1 every 30 epochs, 120 epochs.
_base_ = './hnc-kd_resnet50_8xb32-120e_in1k.py'

model = dict(backbone=dict(depth=152), head=dict(hnc_loss=dict(loss_weight=0.0048)))
