"""Let mmengine 0.10.x checkpoints load with ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``. mmengine 0.10.7 calls
it without ``weights_only``, so loading its own full training checkpoints (``--resume``,
``load_from``, ``init_cfg=dict(type='Pretrained')``) fails with "Weights only load
failed ... HistoryBuffer". Switching weights-only off would let any pickle run code, so
instead:

1. :class:`mmengine.logging.HistoryBuffer` is made to pickle as plain data. Its stock
   ``__getstate__`` adds the class-level ``_statistics_methods`` dict (functions,
   pickled through ``getattr``) to the instance state. Those methods are code: they are
   registered again when their defining module is imported, so the state we write holds
   only the data attributes. ``__setstate__`` already accepts a state without them.
2. Only data types are allowlisted for the weights-only unpickler: HistoryBuffer (whose
   state is now numpy arrays and an int), numpy arrays, dtypes and scalars.

Checkpoints written by a stock mmengine (without this patch) still contain the
``getattr`` pickles and are refused by the weights-only loader, by design.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_PATCHED = False


def _history_buffer_getstate(self) -> dict:
    """Data-only state: drop the class-level statistics methods."""
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def _numpy_safe_globals() -> list:
    """The numpy objects a pickled ndarray, dtype or scalar refers to."""
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    objs = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    # ``np.dtype('f8')`` is an instance of ``np.dtypes.Float64DType`` (numpy >= 1.25);
    # the unpickler checks the instance's type when it restores the dtype's state.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        objs += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType') and isinstance(getattr(dtypes, name), type)
        ]
    else:
        objs += sorted({type(np.dtype(c)) for c in np.typecodes['All']}, key=str)
    return objs


def safe_globals() -> list:
    """Everything :func:`patch_mmengine_checkpoints` allowlists (data types only)."""
    return [HistoryBuffer] + _numpy_safe_globals()


def patch_mmengine_checkpoints() -> None:
    """Install the HistoryBuffer pickling fix and the allowlist (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:  # torch >= 2.4; older torch loads unrestricted
        add_safe_globals(safe_globals())
    _PATCHED = True
