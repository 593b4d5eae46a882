# Faster R-CNN R50-C4 on PASCAL VOC07+12 trainval, tested on VOC07 test, from a
# colorization-pretrained ResNet-50: mmdet's stock VOC C4 benchmark
# (pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py: multi-scale training
# 480..800, 18k iterations, batch 8 x 2, SGD 0.02, x0.1 at 12k and 16k), with the
# self-supervised benchmark changes: PyTorch-style ResNet on RGB normalised with the
# ImageNet mean/std (instead of the caffe BGR model), all stages trained
# (frozen_stages=-1) and synchronised BatchNorm trained in the backbone and in the
# res5 RoI head (instead of frozen BN). The res5 stage lives in the RoI head
# (roi_head.shared_head, keys layer4.*), so both load the colorization backbone; each
# fails if any of its keys is missing from the checkpoint.
#
#   bash tools/dist_train.sh configs/benchmarks/mmdetection/\
# faster-rcnn_r50-c4_colorization-pre_8xb2-ms-18k_voc0712.py 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=CKPT \
#       model.roi_head.shared_head.init_cfg.checkpoint=CKPT
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py'
custom_imports = dict(imports=['colorssl', 'mmdet.models'], allow_failed_imports=False)

checkpoint = 'work_dirs/colorization_resnet50_8xb32-200k_in1k/iter_200000.pth'
mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
colorization_init = dict(
    _delete_=True,
    type='mmpretrain.ColorizationPretrained',
    checkpoint=checkpoint,
    prefix='backbone.',
    input='rgb',
    mean=mean,
    std=std)
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    data_preprocessor=dict(mean=mean, std=std, bgr_to_rgb=True),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=colorization_init),
    roi_head=dict(
        shared_head=dict(
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            init_cfg=colorization_init)))

# The base's CheckpointHook, removing an old checkpoint only after the new one
# loads (colorssl.engine.hooks.SafeCheckpointHook).
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
