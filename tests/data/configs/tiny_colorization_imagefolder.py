# The colorization configs' bases (model, image-folder data, schedule, runtime with
# SafeCheckpointHook and SkippedImagesHook), shrunk for the tool tests: the paper's
# network at base_channels=4 on 32x32 images from <data_root>/train/** (labels unused),
# no rebalancing prior, no random augmentation, 4 iterations. The tests point
# data_root at a folder they generate:
#   python tools/train.py tests/data/configs/tiny_colorization_imagefolder.py \
#       --no-validate --cfg-options train_dataloader.dataset.data_root=/tmp/imgs
_base_ = [
    '../../../configs/_base_/models/colorization_colornet.py',
    '../../../configs/_base_/datasets/folder_colorization.py',
    '../../../configs/_base_/schedules/colorization_adam_450k.py',
    '../../../configs/_base_/colorization_runtime.py',
]

model = dict(backbone=dict(base_channels=4), head=dict(in_channels=16, prior=None))

data_root = 'data/tiny_colorization'
# Unreadable files are skipped (and counted); every image is 32x32 already.
train_pipeline = [dict(type='LoadRGBImage', on_error='skip'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=3,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.))
param_scheduler = []
train_cfg = dict(max_iters=4, val_interval=1000)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, max_keep_ckpts=-1),
    skipped_images=dict(interval=1))
custom_hooks = []
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=True)
