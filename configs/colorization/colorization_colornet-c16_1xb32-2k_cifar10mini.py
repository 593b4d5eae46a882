# A short real-image pretraining on data/cifar10-mini (32x32 CIFAR-10 photos,
# train split; labels unused), used for the README's rebalancing comparison.
# The paper's network at quarter width on the native 32x32 images (prediction 8x8),
# so that a CPU run takes minutes.
_base_ = [
    '../_base_/models/colorization_colornet.py',
    '../_base_/datasets/folder_colorization.py',
    '../_base_/schedules/colorization_adam_450k.py',
    '../_base_/colorization_runtime.py',
]

# prior='auto' (from the model base): the 10,000 training photos (prior_samples
# 10000 takes all of them) give the rebalancing prior before the first iteration.
model = dict(backbone=dict(base_channels=16), head=dict(in_channels=64))

data_root = 'data/cifar10-mini/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
# The paper's Table-1 columns with the baselines computed on the same images: gray
# (ab = 0) and the training set's mean ab, here the mean over the 9,819 colour
# training photos as the prior='auto' estimate records it (the mean_ab of
# work_dir/color_prior.npz, which can be given instead).
val_evaluator = dict(
    type='ColorizationMetric', baselines=('gray', 'mean'), mean_ab=(0.375, 5.904))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=1e-5))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[1600], gamma=0.1)
]
train_cfg = dict(max_iters=2000, val_interval=2000)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=1000, max_keep_ckpts=1))
custom_hooks = [
    dict(type='ColorPriorHook'),
    dict(type='ColorizationVisualizationHook', interval=1000, num_samples=8)
]
randomness = dict(seed=0)
