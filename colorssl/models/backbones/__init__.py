from .colorization_net import ColorizationNet

__all__ = ['ColorizationNet']
