# HNC (kd) on a ViT-B/16, from the stock mmpretrain ViT-B/16 recipe (AdamW,
# Mixup 0.2, label smoothing 0.1). CAMs need a spatial map, so the backbone
# returns its patch tokens as a (N, 768, 14, 14) map (`out_type='featmap'`,
# class token excluded) and the head averages them: a GAP-token ViT rather
# than the class-token one. Mixup's soft labels: every class with a non-zero
# target is excluded from the negatives. k and lambda follow the ResNet
# setting untuned. The stock recipe's augmentation is kept, horizontal flip
# included (the official HNC script trains ResNets without flip).
_base_ = ['mmpretrain::vision_transformer/vit-base-p16_64xb64_in1k.py']

custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)

model = dict(
    backbone=dict(out_type='featmap'),
    neck=None,
    head=dict(
        _delete_=True,
        type='HNCLinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='classy_vision'),
        hnc_loss=dict(type='HNCLoss', k=100, mode='kd', loss_weight=0.0065)))

val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='NegativeCAMMetric'),
]
test_evaluator = val_evaluator

# The base's CheckpointHook, removing an old checkpoint only after the new one
# loads (colorssl.engine.hooks.SafeCheckpointHook).
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
