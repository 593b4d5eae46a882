"""Fail a run whose ``type='Pretrained'`` init left backbone weights random."""
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from colorssl.models.transfer import check_pretrained_init


@HOOKS.register_module()
class PretrainedCheckHook(Hook):
    """Before training, check every stock ``init_cfg=dict(type='Pretrained')``.

    Add ``custom_hooks = [dict(type='PretrainedCheckHook')]`` to a config whose
    backbone loads a converted checkpoint (``tools/model_converters/
    colorization_to_backbone.py``): the run stops with the missing keys or shape
    mismatches listed instead of fine-tuning a backbone that silently stayed random
    (mmengine loads with ``strict=False``). Unexpected checkpoint keys are logged.

    Args:
        allow_missing (Sequence[str]): Regexes of module keys that may stay random.
            Defaults to ().
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_missing: Sequence[str] = ()):
        self.allow_missing = tuple(allow_missing)

    def before_train(self, runner) -> None:
        # Runs after ``Runner._init_model_weights`` (``before_run`` runs before it).
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        check_pretrained_init(model, self.allow_missing)
