# A stock-style mmpretrain classification config, shrunk for the tool tests:
# ResNet-18 with 8 base channels on 32x32 images from an ImageNet-style folder
# (``<data_root>/train/<class>/*.png``, ``<data_root>/val/<class>/*.png``).
# The tests point ``data_root`` at a folder they generate, e.g.
#   python tools/train.py tests/data/configs/tiny_resnet_imagefolder.py \
#       --cfg-options train_dataloader.dataset.data_root=/tmp/imgs ...
default_scope = 'mmpretrain'
custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

data_root = 'data/tiny_imagefolder'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=8,
        base_channels=8,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=2,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

data_preprocessor = dict(
    num_classes=2,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# No random augmentation: a resumed run must see exactly the same batches.
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset', data_root=data_root, data_prefix='val',
        pipeline=pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
# Milestone inside the run so that resuming must restore the scheduler too.
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[3], gamma=0.1)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6, val_interval=6)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SafeCheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=-1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='gloo'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

# Smoothed losses (mean of the last 4 iterations) make the logged values depend
# on the message hub's history, which a resumed run restores from the checkpoint.
log_processor = dict(by_epoch=False, window_size=4)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=True)
