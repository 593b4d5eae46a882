# Mask R-CNN R50-FPN on COCO train2017 / val2017 from a colorization-pretrained
# ResNet-50: mmdet's stock 1x schedule (mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py: 12
# epochs, batch 8 x 2, SGD 0.02) with the self-supervised benchmark changes of the
# "R50-FPN, SyncBN" setting: all stages trained (frozen_stages=-1), synchronised
# BatchNorm trained in the backbone, the FPN and the heads (4 conv + 1 fc box head).
# ColorizationPretrained folds the RGB -> L map into conv1 and fails on missing keys.
#
#   bash tools/dist_train.sh configs/benchmarks/mmdetection/\
# mask-rcnn_r50_fpn_colorization-pre_8xb2-syncbn-12e_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['colorssl', 'mmdet.models'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            _delete_=True,
            type='mmpretrain.ColorizationPretrained',
            checkpoint='work_dirs/colorization_resnet50_8xb32-200k_in1k/'
            'iter_200000.pth',
            prefix='backbone.',
            input='rgb',
            # = model.data_preprocessor mean/std (RGB, bgr_to_rgb=True)
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375])),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

# The base's CheckpointHook, removing an old checkpoint only after the new one
# loads (colorssl.engine.hooks.SafeCheckpointHook).
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
