# Colorization pretraining on Tiny ImageNet (data/tinyimagenet-mini/: 60,000 training
# photos of 200 ImageNet classes at 64x64; labels unused), the largest scale that a
# 2-core CPU trains in about an hour. The paper's network at quarter width, the paper's
# rebalancing (lambda 0.5, prior estimated from the training photos, prior='auto'),
# prediction 16x16. Results and commands: docs/colorization.md.
#
#   python tools/train.py \
#       configs/colorization/colorization_colornet-c16_1xb32-16k_tinyin.py
_base_ = [
    '../_base_/models/colorization_colornet.py',
    '../_base_/datasets/folder_colorization.py',
    '../_base_/schedules/colorization_adam_450k.py',
    '../_base_/colorization_runtime.py',
]

model = dict(backbone=dict(base_channels=16), head=dict(in_channels=64))

data_root = 'data/tinyimagenet-mini/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
# The paper's Table-1 columns with the gray (ab = 0) and training-mean baselines (the
# mean ab comes from the checkpoint's colour prior), and input_dependence.
val_evaluator = dict(type='ColorizationMetric', baselines=('gray', 'mean'))
test_evaluator = val_evaluator

# Adam betas (0.9, 0.99) as the released solver; lr 1e-4 (the paper's 3e-5 is for
# 450k iterations; at 3e-5 a few thousand iterations leave the model painting one
# colour map, see the learning-rate sweep in docs/colorization.md); weight decay 1e-5
# on the per-pixel mean loss.
optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=1e-5))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[12000], gamma=0.1)
]
train_cfg = dict(max_iters=16000, val_interval=4000)
default_hooks = dict(
    logger=dict(interval=100), checkpoint=dict(interval=2000, max_keep_ckpts=8))
custom_hooks = [
    dict(type='ColorPriorHook'),
    dict(type='ColorizationVisualizationHook', interval=4000, num_samples=8)
]
randomness = dict(seed=0)
