# Random-init twin of fcn_r18-w32-d16_colorization-pre_1xb4-0.8k_camvidmini-192x192.py:
# the same model and schedule, backbone with mmseg's default initialisation.
#
#   python tools/train.py configs/benchmarks/mmsegmentation/\
# fcn_r18-w32-d16_random-init_1xb4-0.8k_camvidmini-192x192.py
_base_ = './fcn_r18-w32-d16_colorization-pre_1xb4-0.8k_camvidmini-192x192.py'

model = dict(backbone=dict(init_cfg=None))
