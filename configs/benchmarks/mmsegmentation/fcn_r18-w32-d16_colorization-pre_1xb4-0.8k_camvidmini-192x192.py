# Small-scale real-image segmentation for the transfer table (README): FCN on a
# half-width ResNet-18 (output stride 16) on data/camvid-mini (120 train / 40
# val street scenes, 480x360), 11 classes (label 11 = unlabelled is ignored), mIoU on
# the val split. The backbone comes from configs/colorization/
# colorization_resnet18-w32_1xb16-1.5k_camvidmini-raccoon.py (colorization on
# camvid-mini + raccoon-voc *train* images, labels unused); its random-init twin is
# fcn_r18-w32-d16_random-init_1xb4-0.8k_camvidmini-192x192.py. mmseg's ResNet with the
# plain stem (deep_stem=False) takes the colorization ResNet's conv1. Sized for a CPU.
#
#   python tools/train.py configs/benchmarks/mmsegmentation/\
# fcn_r18-w32-d16_colorization-pre_1xb4-0.8k_camvidmini-192x192.py
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['colorssl', 'mmseg.models'], allow_failed_imports=False)

crop_size = (192, 192)
num_classes = 11
ignore_index = 11  # CamVid 'unlabelled'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size, seg_pad_val=ignore_index),
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=32,
        base_channels=32,
        deep_stem=False,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='mmpretrain.ColorizationPretrained',
            checkpoint='work_dirs/colorization_resnet18-w32_1xb16-1.5k_camvidmini-'
            'raccoon/iter_1500.pth',
            prefix='backbone.',
            input='rgb',
            # = model.data_preprocessor mean/std (RGB, bgr_to_rgb=True)
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375])),
    decode_head=dict(
        in_channels=256,
        channels=128,
        num_classes=num_classes,
        ignore_index=ignore_index,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=128,
        channels=64,
        num_classes=num_classes,
        ignore_index=ignore_index,
        norm_cfg=norm_cfg))

data_root = 'data/camvid-mini/'
metainfo = dict(
    classes=('sky', 'building', 'pole', 'road', 'pavement', 'tree', 'signsymbol',
             'fence', 'car', 'pedestrian', 'bicyclist'),
    palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [0, 0, 192],
             [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
             [0, 128, 192]])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize', scale=(480, 360), ratio_range=(0.5, 1.5), keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=crop_size,
        cat_max_ratio=0.75,
        ignore_index=ignore_index),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(480, 360), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=False)
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        **dataset,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **dataset,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=ignore_index)
test_evaluator = val_evaluator

max_iters = 800
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(
        type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='mmpretrain.SafeCheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
