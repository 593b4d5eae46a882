"""Checkpoint key prefixes (``backbone.``, DDP's ``module.``), handled alike by every
transfer module."""
from collections import OrderedDict
from typing import Iterable, List, Mapping

from torch import Tensor

#: What ``DistributedDataParallel`` puts in front of the wrapped model's keys.
DDP_PREFIX = 'module.'


def strip_prefix(state_dict: Mapping[str, Tensor],
                 prefix: str,
                 keep_others: bool = False) -> 'OrderedDict[str, Tensor]':
    """Remove ``prefix`` from the keys that start with it.

    Args:
        state_dict (Mapping[str, Tensor]): Key -> tensor, in module order.
        prefix (str): E.g. ``'backbone.'`` (a missing final dot is added) or
            :data:`DDP_PREFIX`.
        keep_others (bool): Keep the keys without ``prefix`` unchanged (True,
            e.g. to unwrap DDP keys) or drop them (False, to select a
            sub-module). Defaults to False.

    Returns:
        OrderedDict[str, Tensor]: In the order of ``state_dict``; non-tensor
        values are dropped.
    """
    if not prefix.endswith('.'):
        prefix += '.'
    out = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(value, Tensor):
            continue
        if key.startswith(prefix):
            out[key[len(prefix):]] = value
        elif keep_others:
            out[key] = value
    return out


def checkpoint_tensors(checkpoint) -> 'OrderedDict[str, Tensor]':
    """The tensors of a loaded checkpoint, without the DDP ``module.`` prefix.

    Args:
        checkpoint (dict): What ``CheckpointLoader.load_checkpoint`` returned:
            ``{'state_dict': ..., 'meta': ...}`` or a bare state dict.

    Returns:
        OrderedDict[str, Tensor]
    """
    state = checkpoint.get('state_dict', checkpoint)
    return strip_prefix(state, DDP_PREFIX, keep_others=True)


def key_groups(keys: Iterable[str]) -> List[str]:
    """The distinct first components of ``keys`` with their dot, sorted
    (``['backbone.', 'head.']``), for error messages."""
    return sorted({key.split('.')[0] + '.' for key in keys})
