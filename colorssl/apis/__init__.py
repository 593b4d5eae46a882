"""Inference: ``from colorssl.apis import ColorizationInferencer``."""
from .inferencer import (ColorizationInferencer, colorize_arrays, config_of,
                         list_inputs, load_model, network_size)

__all__ = [
    'ColorizationInferencer', 'colorize_arrays', 'config_of', 'list_inputs',
    'load_model', 'network_size'
]
