# HNC (kd) for fine-grained CUB-200-2011 (448x448 crops, 14x14 CAMs), from
# the stock mmpretrain ResNet-50 CUB recipe (ImageNet-21k pretrained).
# k=20 (10% of the 200 classes, as 100 of 1000 in the paper); lambda chosen
# so that lambda*k matches the paper's ResNet-101 setting (0.0065*100), untuned.
_base_ = ['mmpretrain::resnet/resnet50_8xb8_cub.py']

custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

model = dict(
    neck=None,
    head=dict(
        type='HNCLinearClsHead',
        hnc_loss=dict(type='HNCLoss', k=20, mode='kd', loss_weight=0.0325)))

val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='NegativeCAMMetric'),
]
test_evaluator = val_evaluator

# The base's CheckpointHook, removing an old checkpoint only after the new one
# loads (colorssl.engine.hooks.SafeCheckpointHook).
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
