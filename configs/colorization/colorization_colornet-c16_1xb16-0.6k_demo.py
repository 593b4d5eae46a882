# The demo of tools/run_demo.sh: the paper's network at quarter width (base_channels=16)
# trained on 64x64 crops of the embedded demo data (photos that ship with scikit-image,
# written to data/demo/ by tools/make_demo_data.py), sized to finish in minutes on 2
# CPU cores. The colour prior of the rebalancing is estimated from the demo's training
# crops before the first iteration (prior='auto' from the model base, ColorPriorHook).
_base_ = [
    '../_base_/models/colorization_colornet.py',
    '../_base_/datasets/folder_colorization.py',
    '../_base_/schedules/colorization_adam_450k.py',
    '../_base_/colorization_runtime.py',
]

# rebalance_lambda 0.8 instead of the paper's 0.5: a prior from five photos makes
# their few rare colours very heavy; at 0.5 the held-out photos came out orange-red
# all over (chroma 2.0x the truth on the val crops after 600 iterations, 1.6x at 0.8).
model = dict(
    backbone=dict(base_channels=16), head=dict(in_channels=64, rebalance_lambda=0.8))

data_root = 'data/demo/'
train_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.3, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='ResizeEdge', scale=64, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, dataset=dict(data_root=data_root, pipeline=val_pipeline))
test_dataloader = val_dataloader

# A small model on little data learns faster with a larger step than the paper's.
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[450], gamma=0.1)
]
train_cfg = dict(max_iters=600, val_interval=600)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=600, max_keep_ckpts=1))
# The picture hook first, so that --cfg-options custom_hooks.0.interval=N sets it.
custom_hooks = [
    dict(type='ColorizationVisualizationHook', interval=300, num_samples=6),
    dict(type='ColorPriorHook')
]
randomness = dict(seed=0)
