# Colorization with a ResNet-50 on the L channel (as used in Goyal et al., ICCV 2019,
# "Scaling and benchmarking self-supervised visual representation learning").
# The last two stages are dilated (output stride 8 instead of 32) so the 313-bin
# logits are computed at 1/8 and resized to the paper's 1/4; dilation does not
# change the weights, so the backbone transfers to a stock ResNet-50.
# The rebalancing prior is ImageNet's own: model.head.prior='auto' (model base)
# estimates it from 10,000 random training images before the first iteration.
_base_ = [
    '../_base_/models/colorization_colornet.py',
    '../_base_/datasets/imagenet_colorization.py',
    '../_base_/schedules/colorization_adam_450k.py',
    '../_base_/colorization_runtime.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        in_channels=1,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        out_indices=(3, ),
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    # the released loss normalisation (sum over pixels / batch): weight decay 1e-3
    # then has the released strength relative to the loss (docs/colorization.md)
    head=dict(in_channels=2048, loss_normalize='image'))
train_dataloader = dict(batch_size=32)
# 8 GPUs x 32 = 256 images per step; lr scaled linearly from the paper's 3e-5 @ 40.
optim_wrapper = dict(optimizer=dict(lr=3e-5 * 256 / 40))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[100000, 150000], gamma=0.1)
]
train_cfg = dict(max_iters=200000)
auto_scale_lr = dict(base_batch_size=256)
