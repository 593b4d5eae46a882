from . import atomic_backend  # noqa: F401  (registers the 'atomic_local' backend)
from .checkpoint_compat import patch_mmengine_checkpoints

__all__ = ['patch_mmengine_checkpoints']
