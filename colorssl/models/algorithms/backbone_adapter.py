"""A stock mmpretrain backbone in ``Colorization``: L into its stem, a spatial map out,
a warning when that map is too coarse."""
import inspect
import logging
from typing import Sequence, Tuple, Union

import torch.nn as nn
from mmengine.logging import print_log
from mmpretrain.registry import MODELS
from torch import Tensor

from ..transfer.colorization_checkpoint import find_stem

MIN_MAP_SIDE = 8
# Set where the backbone class takes them: a spatial map out, no parameter changed.
BACKBONE_ARGS = (('out_type', 'featmap'), ('gap_before_final_norm', False),
                 ('reshape_last_feat', True), ('num_classes', -1), ('pad_small_map',
                                                                    True))


def _init_param(cls: type, name: str):
    """``cls.__init__``'s parameter ``name``, looked up the MRO through ``**kwargs``,
    or None."""
    for klass in cls.__mro__:
        if '__init__' in vars(klass):
            params = inspect.signature(klass.__init__).parameters
            if name in params:
                return params[name]
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                return None
    return None


def _log(msg: str, level: int = logging.INFO) -> None:
    print_log(f'Colorization: {msg}', logger='current', level=level)


def _stem_weight(backbone: nn.Module) -> nn.Parameter:
    """(O, C, k, k) weight of the backbone's first conv."""
    return backbone.get_parameter(find_stem(backbone.state_dict()).weight)


def build_backbone(cfg: dict) -> nn.Module:
    """Build a ``model.backbone`` config set to return its last spatial map
    (:data:`BACKBONE_ARGS`), with ``frozen_stages=-1`` when the class default 0
    froze the stem. Every change is logged."""
    btype = cfg.get('type')
    cls = btype if isinstance(btype, type) else MODELS.get(btype)
    cfg, changed = cfg.copy(), []
    for name, value in BACKBONE_ARGS if cls is not None else ():
        param = _init_param(cls, name)
        if param is None or (name == 'num_classes' and param.default != value):
            continue
        if cfg.get(name, param.default) != value:
            cfg[name] = value
            changed.append(f'{name}={value!r}')
    if changed:
        _log(f'model.backbone ({cls.__name__}) set to {", ".join(changed)}')
    backbone = MODELS.build(cfg)
    if 'frozen_stages' not in cfg and not _stem_weight(backbone).requires_grad and \
            getattr(backbone, 'frozen_stages', None) == 0:
        _log(f"model.backbone ({cfg['type']}) set to frozen_stages=-1: its default "
             '0 froze the stem')
        backbone = MODELS.build(dict(cfg, frozen_stages=-1))
    return backbone


def match_stem(backbone: nn.Module, data_preprocessor: nn.Module) -> None:
    """Set ``data_preprocessor.replicate_l`` to the stem's input channels when it is
    1, so L (N, 1, H, W) reaches a C-channel stem as (N, C, H, W)."""
    replicate = getattr(data_preprocessor, 'replicate_l', None)
    if replicate is None:
        return
    channels = _stem_weight(backbone).size(1)
    if replicate == 1:
        data_preprocessor.replicate_l = replicate = channels
    if replicate != channels:
        raise ValueError(
            f'model.data_preprocessor.replicate_l={replicate} but the backbone stem '
            f'takes {channels} channel(s): leave replicate_l at 1 (L is repeated to '
            'the stem width automatically)')


def warn_small_map(feats: Union[Tensor, Sequence[Tensor]],
                   input_size: Tuple[int, int]) -> None:
    """Log a WARNING naming the fixes when the last map (N, C, h, w) of ``feats`` is
    smaller than :data:`MIN_MAP_SIDE` for an (H, W) ``input_size``."""
    x = feats[-1] if isinstance(feats, (list, tuple)) else feats
    if not isinstance(x, Tensor) or x.dim() != 4 or min(x.shape[-2:]) >= MIN_MAP_SIDE:
        return
    (h, w), (height, width), side = x.shape[-2:], input_size, MIN_MAP_SIDE
    stride = max(1, min(height // h, width // w))
    _log(
        f'the head predicts ab from a {h}x{w} feature map (input {height}x{width}, '
        f'output stride {stride}), smaller than {side}x{side}. Use a larger crop (at '
        f"least {side * stride} px) or lower the backbone's output stride: dilate its "
        'last stages instead of striding (ResNet: strides=(1, 2, 1, 1), dilations='
        '(1, 1, 2, 4)), or smaller strides / patch_size', logging.WARNING)
