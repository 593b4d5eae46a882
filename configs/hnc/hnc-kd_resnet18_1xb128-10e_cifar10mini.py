# cifar10-mini with HNC (kd form): k=3 of the 10 classes (the paper's 10%),
# lambda=0.2 so that lambda*k (0.6) matches the paper's ImageNet/ResNet-101
# setting (0.0065*100). Compare with plain_resnet18_1xb128-10e_cifar10mini.py.
_base_ = ['../_base_/hnc_resnet18_cifar10mini.py']

model = dict(head=dict(hnc_loss=dict(type='HNCLoss', k=3, mode='kd', loss_weight=0.2)))
