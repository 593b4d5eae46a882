# The paper's ImageNet pretraining. Every hyper-parameter and its source:
#   batch 40 (1 GPU) of mirrored random 176x176 crops  - released training prototxt
#   Adam lr 3e-5, betas (0.9, 0.99), weight decay 1e-3  - released solver
#   lr x0.1 at 225k                                      - released solver (step 225k)
#   450k iterations                                      - paper (the released solver
#                                                          says max_iter 500k)
#   Q=313 bins (grid 10), 5-NN soft encoding sigma 5    - paper Sec. 2.1
#   rebalancing lambda 0.5, prior smoothed sigma 5      - paper Sec. 2.2
#   prior: ImageNet's own, estimated from 10,000 random training images before the
#   first iteration (model.head.prior='auto', ColorPriorHook; the paper used the
#   full training set), kept in the checkpoints
#   annealed mean T=0.38                                - paper Sec. 2.3
#   loss summed over the output pixels, divided by the batch - released Caffe loss
#     (model.head.loss_normalize='image'), so that weight decay 1e-3 has the
#     released strength relative to the loss gradient (docs/colorization.md)
#   BatchNorm without scale and shift                    - released network (Caffe
#                                                          BatchNorm, no Scale layer)
#   data-dependent initialisation (every conv rescaled   - released init_v2 weights
#     to zero-mean, unit-variance outputs on real images;  (DataDependentInitHook)
#     the authors name its absence as the cause of failed re-trainings)
# The paper removes grayscale images from ImageNet; the released code zeroes their
# loss, which is what ColorizationDataPreprocessor/Colorization do (logged num_gray).
_base_ = [
    '../_base_/models/colorization_colornet.py',
    '../_base_/datasets/imagenet_colorization.py',
    '../_base_/schedules/colorization_adam_450k.py',
    '../_base_/colorization_runtime.py',
]

model = dict(
    backbone=dict(norm_cfg=dict(type='BN', affine=False)),
    head=dict(loss_normalize='image'))
custom_hooks = [
    dict(type='DataDependentInitHook', modules=('backbone', 'head')),
    dict(type='ColorPriorHook'),
    dict(type='ColorizationVisualizationHook', interval=5000, num_samples=4),
]
