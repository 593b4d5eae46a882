# An image folder for colorization pretraining: ``<data_root>/train/**`` and
# ``<data_root>/val/**`` (any sub-folders, labels not used), iteration-based.
# A config that inherits this sets ``data_root`` and the pipelines and, because
# mmengine resolves ``data_root``/``pipeline`` references inside this file,
# passes them on again:
#   train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
#   val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=val_pipeline))
#   test_dataloader = val_dataloader
data_root = 'data/colorization/'  # placeholder

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
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        with_label=False,
        pipeline=val_pipeline))
val_evaluator = dict(type='ColorizationMetric')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
