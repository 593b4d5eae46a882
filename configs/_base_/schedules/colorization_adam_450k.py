# The released colorization solver (see ../shared/reference/README.md): Adam, lr 3e-5,
# betas (0.9, 0.99), weight decay 1e-3, lr x0.1 at 225k iterations, 450k iterations.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3e-5, betas=(0.9, 0.99), weight_decay=1e-3))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[225000], gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=450000, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# lr above is for 1 GPU x batch 40.
auto_scale_lr = dict(base_batch_size=40)
