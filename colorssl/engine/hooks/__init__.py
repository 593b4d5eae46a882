from .colorization_visualization_hook import ColorizationVisualizationHook, triptychs
from .pretrained_check_hook import PretrainedCheckHook

__all__ = ['ColorizationVisualizationHook', 'triptychs', 'PretrainedCheckHook']
