# The linear probes of Zhang, Isola and Efros (ECCV 2016, Sec. 3.1 / Table 3) on the
# paper's colorization network: the network stays frozen, the outputs of conv1 .. conv5
# are average-pooled to about 9,000 values each (64x12x12, 128x8x8, 256x6x6,
# 512x4x4, 512x4x4 = 9216, 8192, 9216, 8192, 8192) and one linear classifier is
# trained per layer.
#
# Input: the network was trained on L, so the images are made gray (RGBToGray writes
# 255 * L / 100) and normalised with mean 2.55 * 50, std 2.55 * 1: exactly the
# pretraining input (L - 50) / 1, borders included. Each probe has a BatchNorm without
# affine parameters in front of its linear layer (a fixed affine map at test time) so
# that one learning rate suits all layers.
# Schedule (ours, not the paper's): SGD lr 0.004, momentum 0.9, weight decay 5e-4,
# 90 epochs, x0.1 at 30 and 60, batch 8 x 32, stock ImageNet augmentation. The lr is
# scaled linearly (x 256 / 64) from the one that trained the cifar10-mini probes
# stably (0.001 at batch 64; 0.01 there made the conv1 probe diverge).
#
#   bash tools/dist_train.sh configs/benchmarks/mmpretrain/\
# colornet_colorization-pre_8xb32-linear-multilayer-steplr-90e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/iter_450000.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

l_cent, l_norm = 50., 1.  # the colorization data preprocessor's (read from the ckpt)
data_preprocessor = dict(
    num_classes=1000, mean=[2.55 * l_cent], std=[2.55 * l_norm], to_rgb=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ColorizationNet',
        in_channels=1,
        base_channels=64,
        out_indices=(0, 1, 2, 3, 4),  # conv1 .. conv5
        frozen_stages=5,
        norm_cfg=dict(type='BN', affine=False),  # as the pretraining config
        init_cfg=dict(
            type='ColorizationPretrained',
            checkpoint=
            'work_dirs/colorization_colornet_1xb40-450k_in1k/iter_450000.pth',  # noqa: E501
            prefix='backbone.',
            input='gray',
            mean=data_preprocessor['mean'],
            std=data_preprocessor['std'])),
    neck=dict(type='MultiLayerAvgPool', output_sizes=(12, 8, 6, 4, 4)),
    head=dict(
        type='MultiLayerLinearClsHead',
        num_classes=1000,
        in_channels=[9216, 8192, 9216, 8192, 8192],
        layer_names=['conv1', 'conv2', 'conv3', 'conv4', 'conv5'],
        with_norm=True,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RGBToGray', num_channels=1),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RGBToGray', num_channels=1),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='MultiLayerAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.004, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60], gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=90, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook', interval=10, max_keep_ckpts=3))
