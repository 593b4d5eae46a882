# The supervised reference of the Tiny ImageNet evaluation (docs/colorization.md): the
# quarter-width paper network (conv1 .. conv7, no conv8) on the *colour* training
# photos of data/tinyimagenet-mini/ (200 classes), global average pooling and a linear
# classifier. It is both the classifier of the recolorized-classification test
# (tools/eval_recolorized_classification.py) and the supervised network whose frozen
# layers the per-layer linear probes read
# (colornet-c16_supervised_1xb64-linear-multilayer-3e_tinyin.py).
#
#   python tools/train.py \
#       configs/benchmarks/mmpretrain/colornet-c16_supervised_1xb64-6e_tinyin.py
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

data_preprocessor = dict(
    num_classes=200,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)  # LoadImageFromFile reads BGR
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ColorizationNet', in_channels=3, base_channels=16, out_indices=(6, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=200,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))

data_root = 'data/tinyimagenet-mini/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=200,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    type='CosineAnnealingLR',
    by_epoch=True,
    T_max=6,
    eta_min=1e-3,
    convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=6)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='SafeCheckpointHook', interval=6, max_keep_ckpts=1))
randomness = dict(seed=0)
