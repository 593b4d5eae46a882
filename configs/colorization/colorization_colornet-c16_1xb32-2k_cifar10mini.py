# A short real-image pretraining on ../shared/data/cifar10-mini (32x32 CIFAR-10 photos,
# train split; labels unused), used for the README's rebalancing comparison.
# The paper's network at quarter width on the native 32x32 images (prediction 8x8),
# so that a CPU run takes minutes.
_base_ = [
    '../_base_/models/colorization_colornet.py',
    '../_base_/schedules/colorization_adam_450k.py',
    '../_base_/colorization_runtime.py',
]

model = dict(backbone=dict(base_channels=16), head=dict(in_channels=64))

data_root = '../shared/data/cifar10-mini/'
train_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                 with_label=False, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='val',
                 with_label=False, pipeline=val_pipeline))
val_evaluator = dict(type='ColorizationMetric')
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=1e-4))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[1600],
                        gamma=0.1)]
train_cfg = dict(max_iters=2000, val_interval=2000)
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(interval=1000, max_keep_ckpts=1))
custom_hooks = [dict(type='ColorizationVisualizationHook', interval=1000,
                     num_samples=8)]
randomness = dict(seed=0)
