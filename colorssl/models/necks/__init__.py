from .multi_layer_pool import MultiLayerAvgPool

__all__ = ['MultiLayerAvgPool']
