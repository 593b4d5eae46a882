"""``init_cfg=dict(type='ColorizationPretrained', ...)``."""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import update_init_info
from mmpretrain.registry import WEIGHT_INITIALIZERS

from .colorization_checkpoint import (IMAGENET_MEAN, IMAGENET_STD, INPUT_MODES,
                                      check_loadable, convert_colorization_backbone,
                                      fill_norm_affine, find_stem, format_report,
                                      load_colorization_checkpoint)


@WEIGHT_INITIALIZERS.register_module(name='ColorizationPretrained')
class ColorizationPretrainedInit:
    """Load a ``Colorization`` checkpoint into a backbone, its stem converted for
    ``input``; raise :class:`CheckpointMismatchError` if a module key would stay
    random. The module's ``init_cfg`` then becomes ``type='Pretrained'`` and its
    sub-modules are marked initialised, so ``init_weights`` keeps the weights.

    Args:
        checkpoint (str): Path of the colorization checkpoint.
        prefix (str): Prefix of the backbone keys. Defaults to ``'backbone.'``.
        input (str): ``'rgb'``, ``'gray'`` or ``'l'``. Defaults to ``'rgb'``.
        mean, std (Sequence[float]): The data preprocessor's, in pixel units and
            network channel order. Default to ImageNet RGB's.
        channel_order (str): ``'rgb'`` or ``'bgr'``. Defaults to ``'rgb'``.
        fit (Sequence[float], optional): Override the L-on-pixels fit.
        l_cent, l_norm (float, optional): Override the checkpoint config's.
        allow_missing (Sequence[str]): Regexes of module keys that may stay random.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: str = 'backbone.',
                 input: str = 'rgb',
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 channel_order: str = 'rgb',
                 fit: Optional[Sequence[float]] = None,
                 l_cent: Optional[float] = None,
                 l_norm: Optional[float] = None,
                 allow_missing: Sequence[str] = ()):
        if input not in INPUT_MODES or not (checkpoint and isinstance(checkpoint, str)):
            raise ValueError(
                'init_cfg ColorizationPretrained: checkpoint must be the path '
                f'of a colorization checkpoint and input must be one of '
                f'{INPUT_MODES}, got {checkpoint!r}, {input!r}')
        self.checkpoint, self.prefix, self.input = checkpoint, prefix, input
        self.info = f'ColorizationPretrained(input={input!r})'
        self.convert_args = (input, mean, std, channel_order, fit)
        self.load_args = (checkpoint, prefix, l_cent, l_norm)
        self.allow_missing = allow_missing

    def __call__(self, module: nn.Module) -> None:
        name = type(module).__name__
        ckpt = load_colorization_checkpoint(*self.load_args)
        expected = module.state_dict()
        stem = find_stem(ckpt.state_dict).weight
        state, stem_msg = ckpt.state_dict, f'stem {stem} not in {name}'
        if stem in expected:
            state, _ = convert_colorization_backbone(ckpt, *self.convert_args)
            stem_msg = f'stem {stem} converted for input={self.input!r}'
        state = fill_norm_affine(state, expected)
        where = f'{self.checkpoint} (prefix {ckpt.prefix!r}) -> {name}'
        report = check_loadable(expected, state, where, self.input, self.allow_missing)
        loaded = {k: v for k, v in state.items() if k in expected}
        module.load_state_dict(loaded, strict=False)
        print_log(
            f'ColorizationPretrained: loaded {len(expected) - len(report.missing)}/'
            f'{len(expected)} keys of {name} from {where}; {stem_msg}; L = (L - '
            f'{ckpt.l_cent:g}) / {ckpt.l_norm:g}; {format_report(report)}',
            logger='current')
        if isinstance(module, BaseModule):
            module.init_cfg = dict(type='Pretrained', converted_by=self.info)
            module.init_cfg.update(checkpoint=self.checkpoint, prefix=self.prefix)
        if getattr(module, 'zero_init_residual', False):
            module.zero_init_residual = False
        for sub in list(module.modules())[1:]:
            if isinstance(sub, BaseModule):
                sub._is_init = True
            elif hasattr(sub, 'init_weights'):  # e.g. mmcv's ConvModule
                sub.is_init = True
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'{self.info}: {self.checkpoint}')
