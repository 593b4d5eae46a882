"""Inference: ``from colorssl.apis import ColorizationInferencer``."""
from .inferencer import ColorizationInferencer, config_of, load_model

__all__ = ['ColorizationInferencer', 'config_of', 'load_model']
