# Shared setting of the Tiny ImageNet HNC comparison (docs/hnc_results.md): the
# supervised quarter-width paper network of the colorization benchmark
# (conv1 .. conv7, an 8x8 map of 128 channels at 64 px, so CAMs have 64
# positions) on the colour photos of data/tinyimagenet-mini/ (200 classes,
# 60k train / 10k val), 6 epochs SGD at batch 64. The head is HNCLinearClsHead
# (GAP + linear on the spatial map); with hnc_loss=None it equals LinearClsHead
# on a GlobalAveragePooling neck, so every variant reports its negative CAMs the
# same way. Not a stand-alone config: see configs/hnc/*_colornet-c16_*_tinyin.py.
_base_ = ['../benchmarks/mmpretrain/colornet-c16_supervised_1xb64-6e_tinyin.py']

model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='HNCLinearClsHead',
        num_classes=200,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        cam_stats_k=20,
        topk=(1, 5)))

val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='NegativeCAMMetric'),
]
test_evaluator = val_evaluator
