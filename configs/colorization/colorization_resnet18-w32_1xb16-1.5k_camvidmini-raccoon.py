# A short real-image colorization pretraining of a half-width ResNet-18 (L input,
# 32 .. 256 channels) for the small transfer table (README): images of the
# *train* splits of data/camvid-mini (120 street scenes) and
# data/raccoon-voc (128 photos), labels unused; the val splits that the
# detection (raccoon-voc) and segmentation (camvid-mini) configs evaluate on are not
# used. Random 112x112 crops; the
# last stage is dilated (output stride 16, 7x7 predictions); dilation does not change
# the weights, so the backbone transfers to stock ResNet-18s with
# stem_channels=base_channels=32 (mmdet, mmseg, mmpretrain). Sized for a CPU.
_base_ = [
    '../_base_/models/colorization_colornet.py',
    '../_base_/schedules/colorization_adam_450k.py',
    '../_base_/colorization_runtime.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        out_indices=(3, )),
    head=dict(in_channels=256))

train_pipeline = [
    dict(type='LoadRGBImage'),
    dict(type='RandomResizedCrop', scale=112, crop_ratio_range=(0.1, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', algorithm_keys=[]),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ConcatDataset',
        ignore_keys=['classes'],
        datasets=[
            dict(
                type='CustomDataset',
                data_root='data/camvid-mini/',
                data_prefix='img_dir/train',
                with_label=False,
                pipeline=train_pipeline),
            # mmpretrain's VOC reader lists ImageSets/Main/train.txt only
            dict(
                type='VOC',
                data_root='data/raccoon-voc/VOC2007/',
                split='train',
                metainfo=dict(classes=('raccoon', )),
                pipeline=train_pipeline),
        ]))
val_dataloader = None
val_cfg = None
val_evaluator = None
# tools/test.py: the held-out colours of camvid-mini's val photos (not trained on).
test_dataloader = dict(
    batch_size=16,
    num_workers=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/camvid-mini/',
        data_prefix='img_dir/val',
        with_label=False,
        pipeline=[
            dict(type='LoadRGBImage'),
            dict(type='ResizeEdge', scale=112, edge='short'),
            dict(type='CenterCrop', crop_size=112),
            dict(type='PackInputs'),
        ]))
test_cfg = dict()
test_evaluator = dict(type='ColorizationMetric')

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[1200], gamma=0.1)
]
train_cfg = dict(max_iters=1500, val_interval=100000)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=500, max_keep_ckpts=1))
custom_hooks = [
    dict(type='ColorPriorHook'),
    dict(type='ColorizationVisualizationHook', interval=1000, num_samples=8)
]
randomness = dict(seed=0)
