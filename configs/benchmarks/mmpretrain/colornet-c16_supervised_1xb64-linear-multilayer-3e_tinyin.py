# The supervised twin of
# colornet-c16_colorization-pre_1xb64-linear-multilayer-3e_tinyin.py: the same
# probes on the frozen layers of the network trained with labels on the colour
# photos (colornet-c16_supervised_1xb64-6e_tinyin.py), which sees the RGB photo.
_base_ = './colornet-c16_colorization-pre_1xb64-linear-multilayer-3e_tinyin.py'

data_preprocessor = dict(
    _delete_=True,
    num_classes=200,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
model = dict(
    backbone=dict(
        in_channels=3,
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='work_dirs/colornet-c16_supervised_1xb64-6e_tinyin/epoch_6.pth',
            prefix='backbone.')))

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
