"""Fail a run whose ``type='Pretrained'`` init left backbone weights random."""
from typing import List, Sequence, Tuple

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from colorssl.models.transfer import (KeyReport, check_loadable, format_report,
                                      load_pretrained_state)


@HOOKS.register_module()
class PretrainedCheckHook(Hook):
    """Before training, raise ``CheckpointMismatchError`` if a stock
    ``type='Pretrained'`` init (``strict=False`` in mmengine) left keys random.

    Args:
        allow_missing (Sequence[str]): Regexes of module keys that may stay random.
            Defaults to ().
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_missing: Sequence[str] = ()):
        self.allow_missing = allow_missing

    def before_train(self, runner) -> None:
        # after Runner._init_model_weights, which before_run precedes
        model = runner.model
        self.check(model.module if is_model_wrapper(model) else model)

    def check(self, model: nn.Module) -> List[Tuple[str, KeyReport]]:
        """Check each ``init_cfg=dict(type='Pretrained')`` but those
        ``ColorizationPretrained`` left, and return ``(module name, report)``s."""
        reports = []
        for name, module in model.named_modules():
            cfgs = getattr(module, 'init_cfg', None)
            for cfg in cfgs if isinstance(cfgs, list) else [cfgs]:
                if not isinstance(cfg, dict) or cfg.get('type') != 'Pretrained' or \
                        'converted_by' in cfg:
                    continue
                if not cfg.get('checkpoint'):
                    raise ValueError(f"{name or type(model).__name__}: init_cfg "
                                     f"type='Pretrained' has no checkpoint ({cfg})")
                state = load_pretrained_state(cfg['checkpoint'], cfg.get('prefix'))
                where = (f"{cfg['checkpoint']} (prefix {cfg.get('prefix')!r}) -> "
                         f'{name or "model"} ({type(module).__name__})')
                report = check_loadable(module.state_dict(), state, where, None,
                                        self.allow_missing)
                print_log(f'PretrainedCheck: {where}: {format_report(report)}',
                          'current')
                reports.append((name, report))
        return reports
