# Runtime for iteration-based colorization pretraining, on mmpretrain's defaults.
_base_ = 'mmpretrain::_base_/default_runtime.py'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # CheckpointHook that removes an old checkpoint only after the new one loads
    # (colorssl/engine/hooks/safe_checkpoint_hook.py).
    checkpoint=dict(
        type='SafeCheckpointHook', interval=10000, by_epoch=False, max_keep_ckpts=3),
    # Logs images LoadRGBImage(on_error='skip') skipped, summed over ranks.
    skipped_images=dict(type='SkippedImagesHook', interval=50))
# ColorPriorHook estimates model.head.prior='auto' from the training data before the
# first iteration (cached in work_dir/color_prior.npz). A config that sets its own
# custom_hooks replaces this list: keep dict(type='ColorPriorHook') in it.
custom_hooks = [
    dict(type='ColorPriorHook'),
    dict(type='ColorizationVisualizationHook', interval=5000, num_samples=4),
]
log_processor = dict(by_epoch=False)
# Pictures go to work_dir/<time>/vis_data/vis_image; add
# dict(type='TensorboardVisBackend') to see them in TensorBoard.
visualizer = dict(
    type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
