# Shared setting of the cifar10-mini runs (10 classes, 10k train / 2k val
# 32x32 JPEGs in ImageNet-style class folders). A 3-stage ResNet-18 at width
# 16 keeps it CPU-affordable and leaves an 8x8 map, so CAMs have 64 positions.
# Not a stand-alone config: see hnc-kd_resnet18_1xb128-10e_cifar10mini.py and
# plain_resnet18_1xb128-10e_cifar10mini.py.
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

data_root = 'data/cifar10-mini'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        stem_channels=16,
        base_channels=16,
        style='pytorch'),
    neck=None,
    head=dict(
        type='HNCLinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        cam_stats_k=3,
        topk=(1, )))

data_preprocessor = dict(
    num_classes=10,
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=True)  # JPEGs are read as BGR

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=256,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='NegativeCAMMetric'),
]
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    type='CosineAnnealingLR',
    by_epoch=True,
    T_max=10,
    eta_min=1e-3,
    convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='SafeCheckpointHook', interval=10, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=False)
