from .colorization_visualization_hook import ColorizationVisualizationHook, triptychs

__all__ = ['ColorizationVisualizationHook', 'triptychs']
