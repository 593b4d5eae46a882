# The random-init twin of
# colornet-c16_colorization-pre_1xb64-linear-multilayer-3e_tinyin.py: the same frozen
# network with its Kaiming initialisation.
_base_ = './colornet-c16_colorization-pre_1xb64-linear-multilayer-3e_tinyin.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(type='Kaiming', layer=['Conv2d', 'ConvTranspose2d']),
        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
    ]))
