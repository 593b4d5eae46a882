# FCN (ResNet-50, output stride 8) on PASCAL VOC 2012 + SBD ("VOC12aug") train, tested
# on VOC 2012 val, the segmentation setting of the paper, from a colorization-
# pretrained ResNet-50: mmseg's stock fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py
# (20k iterations, batch 4 x 4, SGD 0.01 poly, 512x512 crops, SyncBN) with the
# backbone swapped: the stock ResNetV1c has a deep stem (three 3x3 convs) that cannot
# take the colorization ResNet's 7x7 conv1, so this uses mmseg's ResNet with the plain
# stem (deep_stem=False); every other setting (dilations, strides, norm) is kept.
#
#   bash tools/dist_train.sh configs/benchmarks/mmsegmentation/\
# fcn_r50-d8_colorization-pre_4xb4-20k_voc12aug-512x512.py 4 \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'
custom_imports = dict(imports=['colorssl', 'mmseg.models'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        deep_stem=False,
        init_cfg=dict(
            type='mmpretrain.ColorizationPretrained',
            checkpoint='work_dirs/colorization_resnet50_8xb32-200k_in1k/'
            'iter_200000.pth',
            prefix='backbone.',
            input='rgb',
            # = model.data_preprocessor mean/std (RGB, bgr_to_rgb=True)
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375])))

# The base's CheckpointHook, removing an old checkpoint only after the new one
# loads (colorssl.engine.hooks.SafeCheckpointHook).
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
