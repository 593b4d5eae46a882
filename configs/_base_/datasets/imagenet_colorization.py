# ImageNet for colorization pretraining: the released code's mirrored random 176x176
# crops of images resized to 256 on the short side. Labels are not used.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'  # placeholder, as in stock configs

train_pipeline = [
    dict(type='LoadRGBImage', on_error='raise'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='RandomCrop', crop_size=176),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='LoadRGBImage', on_error='raise'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=40,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=25,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='val', pipeline=val_pipeline))
# The paper's Table-1 numbers with their baselines on the same images: gray (ab = 0)
# and the training set's mean ab, which comes from the checkpoint's colour prior
# (prior='auto'); a model without a prior needs val_evaluator.mean_ab.
val_evaluator = dict(type='ColorizationMetric', baselines=('gray', 'mean'))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
