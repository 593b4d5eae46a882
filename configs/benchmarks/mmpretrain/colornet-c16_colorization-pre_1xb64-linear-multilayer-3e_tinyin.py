# The paper's per-layer linear probes (Table 4) on Tiny ImageNet (200 classes): the
# quarter-width paper network pretrained by colorization on the training photos of
# data/tinyimagenet-mini/ (labels unused,
# configs/colorization/colorization_colornet-c16_1xb32-16k_tinyin.py), frozen; conv1 ..
# conv5 average-pooled to at most 4,608 values and one linear classifier per layer,
# trained on the training photos and evaluated on the val split. Input: the gray photo,
# exactly as the pretraining saw it (L - 50).
# Twins: ..._random-init_... (the same network, Kaiming init, frozen) and
# ..._supervised_... (the network trained with labels on the colour photos).
#
#   python tools/train.py configs/benchmarks/mmpretrain/\
# colornet-c16_colorization-pre_1xb64-linear-multilayer-3e_tinyin.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/iter_16000.pth
_base_ = './colornet-c16_colorization-pre_1xb64-linear-multilayer-6e_cifar10mini.py'

data_preprocessor = dict(num_classes=200)
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='work_dirs/colorization_colornet-c16_1xb32-16k_tinyin/'
                      'iter_16000.pth')),
    # 64x64 input: maps of 32, 16, 8, 8, 8 pixels (16, 32, 64, 128, 128 channels)
    neck=dict(output_sizes=(16, 8, 8, 6, 6)),
    head=dict(num_classes=200, in_channels=[4096, 2048, 4096, 4608, 4608]))

data_root = 'data/tinyimagenet-mini/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=200, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[2], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3, val_interval=3)
default_hooks = dict(checkpoint=dict(interval=3))
