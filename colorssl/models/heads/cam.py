"""Class activation maps (CAMs) of a linear classifier on a spatial feature map.

The CAM of class ``c`` is ``M_c(p) = W[c] . f(p) + b[c]``; its spatial mean is
the logit of ``c`` on the average-pooled feature.
"""
import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

_MAP_HINT = ('HNC needs the spatial feature map before global pooling: set '
             '`model.neck=None` (remove `GlobalAveragePooling` from `model.neck`); for '
             'VisionTransformer-like backbones also set `model.backbone.out_type='
             "'featmap'` (or 'raw'); for ConvNeXt set "
             '`model.backbone.gap_before_final_norm=False`.')


def tokens_to_map(tokens: Tensor, num_extra_tokens: int = 1) -> Optional[Tensor]:
    """Tokens (N, L, C) without the leading ``num_extra_tokens`` as a map
    (N, C, S, S), or None unless ``L - num_extra_tokens = S * S > 0``."""
    n, length, c = tokens.shape
    side = math.isqrt(max(length - num_extra_tokens, 0))
    if side == 0 or side * side != length - num_extra_tokens:
        return None
    return tokens[:, num_extra_tokens:].transpose(1, 2).reshape(n, c, side, side)


def to_spatial_map(feat: Union[Tensor, Sequence[Tensor]],
                   num_extra_tokens: int = 1,
                   owner: str = 'model.head') -> Tensor:
    """The last-stage feature as a map.

    Args:
        feat (Tensor | Sequence[Tensor]): A map (N, C, H, W), ViT tokens
            (N, L, C) (``out_type='raw'``), or a sequence ending in one.
        num_extra_tokens (int): Leading non-patch tokens of (N, L, C) input.
        owner (str): Config key named in errors.

    Returns:
        Tensor: Shape (N, C, H, W).
    """
    if isinstance(feat, (tuple, list)):
        feat = feat[-1]
    if feat.dim() == 4:
        return feat
    if feat.dim() != 3:
        raise ValueError(f'{owner} expects a (N, C, H, W) map or (N, L, C) tokens, '
                         f'got shape {tuple(feat.shape)}. {_MAP_HINT}')
    fmap = tokens_to_map(feat, num_extra_tokens)
    if fmap is None:
        raise ValueError(
            f'{owner} received tokens of shape {tuple(feat.shape)}: without '
            f'`{owner}.num_extra_tokens`={num_extra_tokens} they are not a '
            "square patch grid; use `model.backbone.out_type='featmap'`.")
    return fmap


def class_activation_maps(feat_map: Tensor,
                          weight: Tensor,
                          bias: Optional[Tensor] = None,
                          class_idx: Optional[Tensor] = None) -> Tensor:
    """CAMs of a linear classifier.

    Args:
        feat_map (Tensor): Shape (N, C, H, W).
        weight (Tensor): Shape (K, C).
        bias (Tensor, optional): Shape (K, ).
        class_idx (Tensor, optional): Long (N, k): build only these CAMs
            (from the gathered rows of ``weight``). None builds all K.

    Returns:
        Tensor: Shape (N, k, H, W), or (N, K, H, W).
    """
    flat = feat_map.flatten(2)  # (N, C, P)
    if class_idx is None:
        cams = torch.einsum('kc,ncp->nkp', weight, flat)
    else:
        cams = torch.einsum('nkc,ncp->nkp', weight[class_idx], flat)
        bias = None if bias is None else bias[class_idx]
    if bias is not None:
        cams = cams + bias[..., None]
    return cams.reshape(*cams.shape[:2], *feat_map.shape[2:])
