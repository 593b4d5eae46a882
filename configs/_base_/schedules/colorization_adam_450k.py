# Colorization schedule. Sources of each number:
#   Adam, lr 3e-5, betas (0.9, 0.99), weight decay 1e-3 - the released solver
#     (richzhang/colorization train/solver.prototxt: base_lr 3e-5, momentum 0.9,
#     momentum2 0.99, weight_decay 0.001)
#   lr x0.1 at 225k                                     - the released solver
#     (lr_policy step, stepsize 225000, gamma 0.1)
#   450k iterations                                     - the paper's figure; the
#     released solver says max_iter 500000 (with the step policy its lr would drop
#     again at 450k). A later version of the released solver is reported to use
#     lr 3.16e-5 x0.316 every 215k (not used here).
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
