from .color_prior_hook import ColorPriorHook
from .colorization_visualization_hook import ColorizationVisualizationHook, triptychs
from .data_dependent_init_hook import DataDependentInitHook
from .pretrained_check_hook import PretrainedCheckHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .skipped_images_hook import SkippedImagesHook

__all__ = [
    'ColorPriorHook', 'ColorizationVisualizationHook', 'triptychs',
    'DataDependentInitHook',
    'PretrainedCheckHook', 'SafeCheckpointHook', 'SkippedImagesHook'
]
