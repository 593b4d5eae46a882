# HNC (kd) on Swin-T from the stock mmpretrain recipe (AdamW, Mixup + CutMix,
# label smoothing). Swin's last stage is a (N, 768, 7, 7) map: dropping the
# pooling neck and using the HNC head gives the same network and parameter
# names as the stock one, so stock Swin-T checkpoints load unchanged. k and
# lambda follow the ResNet setting untuned. The stock recipe's augmentation is kept,
# horizontal flip included (the official HNC script trains ResNets without flip).
_base_ = ['mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py']

custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

model = dict(
    neck=None,
    head=dict(
        type='HNCLinearClsHead',
        hnc_loss=dict(type='HNCLoss', k=100, mode='kd', loss_weight=0.0065)))

val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='NegativeCAMMetric'),
]
test_evaluator = val_evaluator

# The base's CheckpointHook, removing an old checkpoint only after the new one
# loads (colorssl.engine.hooks.SafeCheckpointHook).
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
