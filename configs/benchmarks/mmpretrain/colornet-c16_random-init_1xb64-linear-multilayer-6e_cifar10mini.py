# Random-init twin of
# colornet-c16_colorization-pre_1xb64-linear-multilayer-6e_cifar10mini.py: the same
# frozen network and probes, with ColorizationNet's default (Kaiming) initialisation.
#
#   python tools/train.py configs/benchmarks/mmpretrain/\
# colornet-c16_random-init_1xb64-linear-multilayer-6e_cifar10mini.py
_base_ = './colornet-c16_colorization-pre_1xb64-linear-multilayer-6e_cifar10mini.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='Kaiming', layer=['Conv2d', 'ConvTranspose2d']),
        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
    ]))
