# The cifar10-mini colorization pretraining of the 2k config, five times longer
# (10,000 iterations, ~32 epochs of the 10,000 training photos; lr step at 8,000),
# to see whether the per-layer linear probes improve with pretraining length.
_base_ = './colorization_colornet-c16_1xb32-2k_cifar10mini.py'

param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[8000], gamma=0.1)
]
train_cfg = dict(max_iters=10000, val_interval=10000)
default_hooks = dict(checkpoint=dict(interval=5000, max_keep_ckpts=1))
custom_hooks = [
    dict(type='ColorPriorHook'),
    dict(type='ColorizationVisualizationHook', interval=5000, num_samples=8)
]
