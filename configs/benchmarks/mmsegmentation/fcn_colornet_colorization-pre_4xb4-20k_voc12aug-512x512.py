# FCN on VOC12aug with the paper's own network (Zhang et al. 2016 fine-tuned their
# colorization network as an FCN for PASCAL segmentation): ColorizationNet conv1 ..
# conv7 (output stride 8, dilated conv5/conv6) on RGB (conv1 converted from L by
# ColorizationPretrained, input='rgb'), an FCN head on conv7 and an auxiliary head on
# conv4; data, schedule and crop as mmseg's fcn_r50-d8_4xb4-20k_voc12aug-512x512.py.
#
#   bash tools/dist_train.sh configs/benchmarks/mmsegmentation/\
# fcn_colornet_colorization-pre_4xb4-20k_voc12aug-512x512.py 4 \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'
custom_imports = dict(imports=['colorssl', 'mmseg.models'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ColorizationNet',
        in_channels=3,
        base_channels=64,
        out_indices=(3, 6),  # conv4 (auxiliary head), conv7 (FCN head), 512 ch
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='mmpretrain.ColorizationPretrained',
            checkpoint='work_dirs/colorization_colornet_1xb40-450k_in1k/'
            'iter_450000.pth',
            prefix='backbone.',
            input='rgb',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375])),
    decode_head=dict(in_channels=512, in_index=1, channels=512),
    auxiliary_head=dict(in_channels=512, in_index=0, channels=256))

# The base's CheckpointHook, removing an old checkpoint only after the new one
# loads (colorssl.engine.hooks.SafeCheckpointHook).
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
