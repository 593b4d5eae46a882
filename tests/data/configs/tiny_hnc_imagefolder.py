# TINY_CFG (tiny_resnet_imagefolder.py) with the HNC head: a 3-stage CIFAR ResNet-18 at
# width 8 keeps an 8x8 map on the 32x32 images, so CAMs have 64 positions; k=1 of the
# 2 classes. BatchNorm is frozen (norm_eval): torch's SyncBatchNorm runs on GPUs only,
# and the distributed test compares 2 CPU ranks with one process.
_base_ = './tiny_resnet_imagefolder.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet_CIFAR',
        depth=18,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        stem_channels=8,
        base_channels=8,
        style='pytorch',
        norm_eval=True),
    neck=None,
    head=dict(
        _delete_=True,
        type='HNCLinearClsHead',
        num_classes=2,
        in_channels=32,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        hnc_loss=dict(type='HNCLoss', k=1, mode='kd', loss_weight=0.5),
        cam_stats_k=1,
        topk=(1, )))
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=False))
