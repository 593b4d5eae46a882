# Small-scale real-image version of the paper's per-layer linear probes: the quarter-
# width colorization network pretrained on cifar10-mini *train* (labels unused,
# configs/colorization/colorization_colornet-c16_1xb32-2k_cifar10mini.py), frozen;
# conv1 .. conv5 average-pooled and one linear classifier per layer trained on
# cifar10-mini train, evaluated on cifar10-mini val (not seen in pretraining).
#
# At 32x32 input the feature maps are 16, 8, 4, 4, 4 pixels wide; with 16 .. 128
# channels no layer reaches the paper's ~9,000 values, so every layer keeps all its
# positions (4096, 2048, 1024, 2048, 2048 values).
# Input: gray, exactly the pretraining input (L - 50) / 1 (see the ImageNet config).
#
#   python tools/train.py configs/benchmarks/mmpretrain/\
# colornet-c16_colorization-pre_1xb64-linear-multilayer-6e_cifar10mini.py
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

l_cent, l_norm = 50., 1.
data_preprocessor = dict(
    num_classes=10, mean=[2.55 * l_cent], std=[2.55 * l_norm], to_rgb=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ColorizationNet',
        in_channels=1,
        base_channels=16,
        out_indices=(0, 1, 2, 3, 4),
        frozen_stages=5,
        init_cfg=dict(
            type='ColorizationPretrained',
            checkpoint='work_dirs/colorization_colornet-c16_1xb32-2k_cifar10mini/'
            'iter_2000.pth',
            prefix='backbone.',
            input='gray',
            mean=data_preprocessor['mean'],
            std=data_preprocessor['std'])),
    neck=dict(type='MultiLayerAvgPool', output_sizes=(16, 8, 4, 4, 4)),
    head=dict(
        type='MultiLayerLinearClsHead',
        num_classes=10,
        in_channels=[4096, 2048, 1024, 2048, 2048],
        layer_names=['conv1', 'conv2', 'conv3', 'conv4', 'conv5'],
        with_norm=True))

data_root = 'data/cifar10-mini/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RGBToGray', num_channels=1),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RGBToGray', num_channels=1),
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
    batch_size=100,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline))
val_evaluator = dict(type='MultiLayerAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# lr 0.01 made the conv1 probe's loss rise above chance (ln 10) in the first epoch
# (thousands of normalised inputs per classifier); 0.001 trains all five.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[4], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=6, val_interval=6)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='SafeCheckpointHook', interval=6, max_keep_ckpts=1))
randomness = dict(seed=0)
