# Multi-label HNC (kd) on PASCAL VOC 2007 (20 classes): ResNet-50 from the
# ImageNet-1k mmpretrain checkpoint, BCE + HNC. Negatives are the classes
# that are neither labelled nor marked "difficult" in the image (difficult
# labels are passed to the head through `gt_label_difficult`). k=4 (20% of the
# classes); lambda chosen so that lambda*k matches the paper's ResNet-101
# setting (0.0065*100), untuned.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/voc_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

pretrained = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth'  # noqa

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    neck=None,
    head=dict(
        _delete_=True,
        type='HNCMultiLabelLinearClsHead',
        num_classes=20,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True),
        hnc_loss=dict(type='HNCLoss', k=4, mode='kd', loss_weight=0.16)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # keep difficult labels out of the HNC negatives during training too
    dict(
        type='PackInputs',
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                   'flip', 'flip_direction', 'gt_label_difficult')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)}))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[12, 18], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)

val_evaluator = [
    dict(type='VOCMultiLabelMetric'),
    dict(type='VOCMultiLabelMetric', average='micro'),
    dict(type='VOCAveragePrecision'),
    dict(type='NegativeCAMMetric'),
]
test_evaluator = val_evaluator

# The base's CheckpointHook, removing an old checkpoint only after the new one
# loads (colorssl.engine.hooks.SafeCheckpointHook).
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
