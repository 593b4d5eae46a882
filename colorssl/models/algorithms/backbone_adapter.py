"""A stock mmpretrain backbone in a ``Colorization`` model: L into its stem, the last
spatial map out of it, and a warning when that map is too coarse to colour from."""
import inspect
import logging
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.logging import print_log
from mmpretrain.registry import MODELS
from torch import Tensor

from ..transfer.colorization_checkpoint import find_stem

#: The head warns below this prediction map side (h or w of its input feature).
MIN_MAP_SIDE = 8

#: Backbone arguments set to these values where the backbone takes them. The first
#: four return the last (N, C, h, w) map instead of a pooled vector, a class token or
#: logits (ViT/DeiT/BEiT; ConvNeXt/EdgeNeXt/HorNet/TinyViT; EfficientFormer; VGG and
#: AlexNet, whose default -1 means no classifier); Swin's ``pad_small_map`` pads the
#: maps of small crops narrower than a window. No parameter changes: weights transfer.
BACKBONE_ARGS = (('out_type', 'featmap'), ('gap_before_final_norm', False),
                 ('reshape_last_feat', True), ('num_classes', -1), ('pad_small_map',
                                                                    True))


def _init_param(cls: type, name: str) -> Optional[inspect.Parameter]:
    """``cls.__init__``'s parameter ``name`` (searched up the MRO through
    ``**kwargs``), or None when ``cls`` does not take it."""
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        if name in params:
            return params[name]
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return None
    return None


def adapt_backbone_cfg(cfg: dict) -> dict:
    """A copy of a ``model.backbone`` config set to output a spatial map.

    Only the :data:`BACKBONE_ARGS` that the backbone class takes are changed; each
    change is logged.
    """
    btype = cfg.get('type')
    cls = btype if isinstance(btype, type) else MODELS.get(btype)
    if cls is None:
        return cfg  # MODELS.build names the unknown type
    cfg, changed = cfg.copy(), []
    for name, value in BACKBONE_ARGS:
        param = _init_param(cls, name)
        if param is None or (name == 'num_classes' and param.default != value):
            continue
        if cfg.get(name, param.default) != value:
            cfg[name] = value
            changed.append(f'{name}={value!r}')
    if changed:
        print_log(
            f'Colorization: model.backbone ({cls.__name__}) set to '
            f'{", ".join(changed)} for colorization',
            logger='current')
    return cfg


def stem_weight(backbone: nn.Module) -> nn.Parameter:
    """The (O, C, k, k) weight of the backbone's first conv (the stem that the
    transfer converts, :func:`colorssl.models.transfer.find_stem`)."""
    return backbone.get_parameter(find_stem(backbone.state_dict()).weight)


def build_backbone(cfg: dict) -> nn.Module:
    """Build :func:`adapt_backbone_cfg` of ``cfg``, again with ``frozen_stages=-1``
    when the class default ``frozen_stages=0`` froze the stem (PoolFormer, RIFormer;
    0 freezes nothing in most backbones)."""
    cfg = adapt_backbone_cfg(cfg)
    backbone = MODELS.build(cfg)
    if 'frozen_stages' not in cfg and not stem_weight(backbone).requires_grad and \
            getattr(backbone, 'frozen_stages', None) == 0:
        print_log(
            f"Colorization: model.backbone ({cfg['type']}) set to "
            'frozen_stages=-1: its default 0 froze the stem',
            logger='current')
        backbone = MODELS.build(dict(cfg, frozen_stages=-1))
    return backbone


def match_stem(backbone: nn.Module, data_preprocessor: nn.Module) -> None:
    """Let the data preprocessor repeat L (N, 1, H, W) into as many channels as the
    stem takes: a stock 3-channel stem sees (N, 3, H, W) copies of L, so the stem's
    per-channel weights act as their sum, which the transfer folds into the RGB
    stem exactly as for a 1-channel stem (:func:`fold_l_into_rgb_conv`)."""
    replicate = getattr(data_preprocessor, 'replicate_l', None)
    if replicate is None:
        return
    channels = stem_weight(backbone).size(1)
    if replicate == 1 and channels > 1:
        data_preprocessor.replicate_l = replicate = channels
    if replicate != channels:
        raise ValueError(
            f'model.data_preprocessor.replicate_l={replicate} but the backbone stem '
            f'takes {channels} channel(s): leave replicate_l at 1 (L is repeated to '
            'the stem width automatically)')


def warn_small_map(feats: Union[Tensor, Sequence[Tensor]],
                   input_size: Tuple[int, int]) -> None:
    """Log a WARNING when the last map (N, C, h, w) of ``feats`` has h or w below
    :data:`MIN_MAP_SIDE` for an input of ``input_size`` (H, W)."""
    x = feats[-1] if isinstance(feats, (list, tuple)) else feats
    if not isinstance(x, Tensor) or x.dim() != 4 or min(x.shape[-2:]) >= MIN_MAP_SIDE:
        return
    (h, w), (height, width) = x.shape[-2:], input_size
    stride = max(1, min(height // h, width // w))
    print_log(
        f'Colorization: the head predicts ab from a {h}x{w} feature map (input '
        f'{height}x{width}, output stride {stride}), smaller than {MIN_MAP_SIDE}x'
        f'{MIN_MAP_SIDE}. Use a larger crop (at least {MIN_MAP_SIDE * stride} px) or '
        "lower the backbone's output stride: dilate its last stages instead of "
        'striding (ResNet: strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)), or smaller '
        'strides / patch_size',
        logger='current',
        level=logging.WARNING)
