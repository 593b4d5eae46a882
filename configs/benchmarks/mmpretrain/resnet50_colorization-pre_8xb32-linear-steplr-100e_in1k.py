# Linear probe of a colorization-pretrained ResNet-50 on ImageNet: frozen backbone, the
# stock mmpretrain self-supervised benchmark (the schedule, data and head of
# mmpretrain's configs/mocov2/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py:
# SGD lr 30, no weight decay, 100 epochs, x0.1 at 60 and 80, batch 8 x 32).
#
# The backbone comes from configs/colorization/colorization_resnet50_8xb32-200k_in1k.py
# (L input, dilated last stages). ColorizationPretrained folds the RGB -> L map into
# conv1 (input='rgb', mean/std of the data preprocessor below) and fails if any
# backbone key is missing. The probe runs the stock ResNet-50 (strides 2 in all
# stages); for the pretraining geometry add strides=(1, 2, 1, 1),
# dilations=(1, 1, 2, 4) to model.backbone (same weights).
#
#   bash tools/dist_train.sh configs/benchmarks/mmpretrain/\
# resnet50_colorization-pre_8xb32-linear-steplr-100e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/iter_200000.pth
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_sgd_steplr_100e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        frozen_stages=4,
        init_cfg=dict(
            type='ColorizationPretrained',
            checkpoint=
            'work_dirs/colorization_resnet50_8xb32-200k_in1k/iter_200000.pth',  # noqa: E501
            prefix='backbone.',
            input='rgb',
            # = data_preprocessor mean/std of the dataset base (RGB after to_rgb)
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375])))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.))

default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook', interval=10, max_keep_ckpts=3))
