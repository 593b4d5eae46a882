# Random-init twin of faster-rcnn_r18-w32_fpn_colorization-pre_1xb2-0.8k_raccoon.py:
# the same detector and schedule, backbone with mmdet's default initialisation.
#
#   python tools/train.py configs/benchmarks/mmdetection/\
# faster-rcnn_r18-w32_fpn_random-init_1xb2-0.8k_raccoon.py
_base_ = './faster-rcnn_r18-w32_fpn_colorization-pre_1xb2-0.8k_raccoon.py'

model = dict(backbone=dict(init_cfg=None))
