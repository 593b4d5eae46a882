"""Strict key check for stock ``init_cfg=dict(type='Pretrained', ...)``, which
mmengine loads with ``strict=False`` (a mismatching backbone would train from random
weights without failing)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.logging import print_log

from .colorization_checkpoint import KeyReport, check_loadable, format_report
from .state_dict_keys import checkpoint_tensors, key_groups, strip_prefix


def _pretrained_cfgs(module: nn.Module) -> List[dict]:
    init_cfg = getattr(module, 'init_cfg', None)
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    # 'converted_by': left by ColorizationPretrained, which checked its load itself
    return [
        c for c in cfgs if isinstance(c, dict) and c.get('type') == 'Pretrained'
        and 'converted_by' not in c
    ]


def load_pretrained_state(checkpoint: str,
                          prefix: Optional[str] = None,
                          map_location: str = 'cpu') -> Dict:
    """The tensors ``PretrainedInit`` would load (keys relative to the module)."""
    from mmengine.runner import CheckpointLoader
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location=map_location)
    state = checkpoint_tensors(ckpt)
    if prefix:
        selected = strip_prefix(state, prefix)
        if not selected:
            raise ValueError(f'{checkpoint}: init_cfg prefix {prefix!r} matches no '
                             f'key; its keys start with {key_groups(state)}')
        state = selected
    return state


def check_pretrained_init(model: nn.Module, allow_missing: Sequence[str] = ()
                          ) -> List[Tuple[str, KeyReport]]:
    """Check every ``type='Pretrained'`` init_cfg in ``model`` against its module.

    Args:
        model (nn.Module): The model (after or before ``init_weights``).
        allow_missing (Sequence[str]): Regexes of module keys that may stay random.

    Returns:
        list[tuple[str, KeyReport]]: ``(module name, report)`` per checked module.

    Raises:
        CheckpointMismatchError: A module key is missing from its checkpoint, or has
            another shape there.
    """
    reports = []
    for name, module in model.named_modules():
        for cfg in _pretrained_cfgs(module):
            checkpoint = cfg.get('checkpoint')
            if not checkpoint:
                raise ValueError(f"{name or type(model).__name__}: init_cfg "
                                 "type='Pretrained' has no checkpoint "
                                 f'(init_cfg={dict(cfg)})')
            prefix = cfg.get('prefix')
            state = load_pretrained_state(checkpoint, prefix)
            where = (f'{checkpoint} (prefix {prefix!r}) -> '
                     f'{name or "model"} ({type(module).__name__})')
            report = check_loadable(
                module.state_dict(), state, where, allow_missing=allow_missing)
            print_log(
                f'PretrainedCheck: {where}: {format_report(report)}', logger='current')
            reports.append((name, report))
    return reports
