# As colornet-c16_colorization-pre_1xb64-linear-multilayer-6e_cifar10mini.py, but the
# probes see colour images: the stem is converted with input='rgb' (the affine sRGB ->
# L fit folded into conv1, RMS error 4.5 L units, see colorssl/models/transfer).
#
#   python tools/train.py configs/benchmarks/mmpretrain/\
# colornet-c16_colorization-pre-rgb_1xb64-linear-multilayer-6e_cifar10mini.py
_base_ = './colornet-c16_colorization-pre_1xb64-linear-multilayer-6e_cifar10mini.py'

data_preprocessor = dict(
    _delete_=True,
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
model = dict(
    backbone=dict(
        in_channels=3,
        init_cfg=dict(
            input='rgb', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
