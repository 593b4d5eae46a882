"""``init_cfg=dict(type='ColorizationPretrained', ...)``: load a colorization backbone
into a stock backbone, converting its stem, and refuse to leave weights random."""
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
    """Initialise a backbone from a ``Colorization`` checkpoint.

    Use it as a backbone's (or ResNet-C4 shared head's) ``init_cfg``::

        init_cfg=dict(type='ColorizationPretrained',
                      checkpoint='work_dirs/.../iter.pth',
                      prefix='backbone.', input='rgb',
                      mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])

    (``type='mmpretrain.ColorizationPretrained'`` in mmdet and mmseg configs.)

    The stem is converted for ``input`` (:func:`convert_colorization_backbone`, L
    scaling read from the checkpoint's config); every key of the module must then be
    in the checkpoint with its shape, else :class:`CheckpointMismatchError` lists them
    (stock ``'Pretrained'`` loads with ``strict=False``). Checkpoint keys the module
    lacks are logged. After loading, the module's ``init_cfg`` becomes
    ``type='Pretrained'`` and its sub-modules are marked initialised, so that the
    backbone's own ``init_weights`` (``zero_init_residual``, ViT's ``pos_embed`` ...)
    keeps the loaded weights.

    Args:
        checkpoint (str): Path of the colorization checkpoint.
        prefix (str): Prefix of the backbone keys in it. Defaults to ``'backbone.'``.
        input (str): ``'rgb'``, ``'gray'`` (images from ``RGBToGray``) or ``'l'``
            (unchanged stem). Defaults to ``'rgb'``.
        mean (Sequence[float]): The fine-tuning data preprocessor's mean (pixel units,
            network channel order); its length is the stem's input channels.
            Defaults to the ImageNet RGB mean.
        std (Sequence[float]): Its std. Defaults to the ImageNet RGB std.
        channel_order (str): ``'rgb'`` or ``'bgr'`` (network channel order).
            Defaults to ``'rgb'``.
        fit (Sequence[float], optional): Override the L-on-pixels coefficients.
        l_cent (float, optional): Override the checkpoint config's L centring.
        l_norm (float, optional): Override the checkpoint config's L scale.
        allow_missing (Sequence[str]): Regexes of module keys that may stay random.
            Defaults to ().
        map_location (str): Defaults to ``'cpu'``.
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
                 allow_missing: Sequence[str] = (),
                 map_location: str = 'cpu'):
        if not checkpoint or not isinstance(checkpoint, str):
            raise ValueError("init_cfg ColorizationPretrained: checkpoint must be the "
                             f'path of a colorization checkpoint, got {checkpoint!r}')
        if input not in INPUT_MODES:
            raise ValueError(f'init_cfg ColorizationPretrained: input must be one of '
                             f'{INPUT_MODES}, got {input!r}')
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.input = input
        self.mean = list(mean)
        self.std = list(std)
        self.channel_order = channel_order
        self.fit = fit
        self.l_cent = l_cent
        self.l_norm = l_norm
        self.allow_missing = tuple(allow_missing)
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        name = type(module).__name__
        ckpt = load_colorization_checkpoint(self.checkpoint, self.prefix, self.l_cent,
                                            self.l_norm, self.map_location)
        expected = module.state_dict()
        stem = find_stem(ckpt.state_dict)
        if stem.weight in expected:
            state, info = convert_colorization_backbone(ckpt, self.input, self.mean,
                                                        self.std, self.channel_order,
                                                        self.fit)
            stem_msg = (f"stem {stem.weight} converted for input={self.input!r}" +
                        (f" (offset into {info['offset_into']})"
                         if 'offset_into' in info else ''))
        else:
            state, stem_msg = ckpt.state_dict, f'stem {stem.weight} not in {name}'
        state = fill_norm_affine(state, expected)
        where = f'{self.checkpoint} (prefix {ckpt.prefix!r}) -> {name}'
        report = check_loadable(expected, state, where, self.input, self.allow_missing)
        module.load_state_dict({
            k: v
            for k, v in state.items() if k in expected
        },
                               strict=False)
        loaded = len(expected) - len(report.missing)
        print_log(
            f'ColorizationPretrained: loaded {loaded}/{len(expected)} keys of '
            f'{name} from {where}; {stem_msg}; L = (L - {ckpt.l_cent:g}) / '
            f'{ckpt.l_norm:g}; {format_report(report)}',
            logger='current')
        self._protect(module)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _protect(self, module: nn.Module) -> None:
        """Keep the rest of ``init_weights`` from overwriting the loaded weights."""
        if isinstance(module, BaseModule):
            module.init_cfg = dict(
                type='Pretrained',
                checkpoint=self.checkpoint,
                prefix=self.prefix,
                converted_by=f'ColorizationPretrained(input={self.input!r})')
        if getattr(module, 'zero_init_residual', False):
            module.zero_init_residual = False
        for sub in module.modules():
            if sub is module:
                continue
            if isinstance(sub, BaseModule):
                sub._is_init = True
            elif hasattr(sub, 'init_weights'):  # e.g. mmcv's ConvModule
                sub.is_init = True

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: load {self.prefix} from {self.checkpoint} '
                f'(input={self.input})')
