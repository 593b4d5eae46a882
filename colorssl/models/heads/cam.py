"""Class activation maps (CAMs) of a linear classifier on a spatial feature map.

For a feature map ``f`` of shape (N, C, H, W) and a linear layer ``(W, b)``, the
CAM of class ``c`` is ``M_c(h, w) = W[c] . f[:, :, h, w] + b[c]``. Pooling and the
linear layer are both linear, so the spatial mean of ``M_c`` equals the logit
``fc(mean_hw f)[c]`` exactly. The heads therefore compute logits by pooling first
(cheap) and build CAMs only for the classes they need.

No registry here: used by the HNC heads, the negative-CAM statistics and
``tools/visualize_negative_cams.py``.
"""
import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from ..utils.negative_selection import select_negatives

_MAP_HINT = ('HNC needs the spatial feature map before global pooling: set '
             '`model.neck=None` (remove `GlobalAveragePooling` from `model.neck`); for '
             'VisionTransformer-like backbones also set `model.backbone.out_type='
             "'featmap'` (or 'raw'); for ConvNeXt set "
             '`model.backbone.gap_before_final_norm=False`.')


def to_spatial_map(feat: Union[Tensor, Sequence[Tensor]],
                   num_extra_tokens: int = 1,
                   owner: str = 'model.head') -> Tensor:
    """Turn a backbone/neck output into a (N, C, H, W) feature map.

    Args:
        feat (Tensor | Sequence[Tensor]): The last-stage feature. Accepted:

            - (N, C, H, W): a CNN / Swin feature map, or a ViT with
              ``out_type='featmap'``; returned unchanged;
            - (N, L, C): ViT tokens (``out_type='raw'``); the first
              ``num_extra_tokens`` tokens (class/distillation tokens) are
              dropped and the ``L - num_extra_tokens`` patch tokens must form
              a square grid;
            - a tuple/list whose last item is one of the above.
        num_extra_tokens (int): Leading non-patch tokens of a (N, L, C) input.
            Defaults to 1 (the class token).
        owner (str): Config key named in error messages.

    Returns:
        Tensor: The feature map, shape (N, C, H, W).

    Raises:
        ValueError: for a pooled 2-D feature (N, C) or any other shape.
    """
    if isinstance(feat, (tuple, list)):
        feat = feat[-1]
    if not isinstance(feat, Tensor):
        raise TypeError(f'{owner} expects a tensor feature, got {type(feat)}')
    if feat.dim() == 4:
        return feat
    if feat.dim() == 2:
        raise ValueError(f'{owner} received a pooled 2-D feature of shape '
                         f'{tuple(feat.shape)} (N, C). {_MAP_HINT}')
    if feat.dim() == 3:
        n, length, c = feat.shape
        num_patches = length - num_extra_tokens
        side = math.isqrt(max(num_patches, 0))
        if num_patches <= 0 or side * side != num_patches:
            raise ValueError(
                f'{owner} received tokens of shape {tuple(feat.shape)}: '
                f'{length} tokens minus {num_extra_tokens} extra tokens '
                f'(`{owner}.num_extra_tokens`) is not a square patch grid. '
                "Use `model.backbone.out_type='featmap'` for non-square "
                'inputs.')
        patches = feat[:, num_extra_tokens:]
        return patches.transpose(1, 2).reshape(n, c, side, side)
    raise ValueError(f'{owner} expects a (N, C, H, W) feature map or (N, L, C) '
                     f'tokens, got shape {tuple(feat.shape)}. {_MAP_HINT}')


def class_activation_maps(feat_map: Tensor,
                          weight: Tensor,
                          bias: Optional[Tensor] = None,
                          class_idx: Optional[Tensor] = None) -> Tensor:
    """CAMs of a linear classifier on a feature map.

    Args:
        feat_map (Tensor): Feature map, shape (N, C, H, W).
        weight (Tensor): Classifier weight, shape (K, C).
        bias (Tensor, optional): Classifier bias, shape (K, ).
        class_idx (Tensor, optional): Per-sample class indices, shape (N, k)
            (long). When given, only those k CAMs are built: the gathered
            weights have shape (N, k, C), so autograd never materialises the
            CAMs (nor their gradients) of the other K - k classes. When None,
            the CAMs of all K classes are returned.

    Returns:
        Tensor: CAMs, shape (N, k, H, W) or (N, K, H, W).
    """
    n, c, h, w = feat_map.shape
    flat = feat_map.reshape(n, c, h * w)
    if class_idx is None:
        cams = torch.einsum('kc,ncl->nkl', weight, flat)
        if bias is not None:
            cams = cams + bias.view(1, -1, 1)
        return cams.reshape(n, -1, h, w)
    if class_idx.dim() != 2 or class_idx.size(0) != n:
        raise ValueError('class_idx must have shape (N, k) with N='
                         f'{n}, got {tuple(class_idx.shape)}')
    sel_w = weight[class_idx]  # (N, k, C)
    cams = torch.bmm(sel_w.to(flat.dtype), flat)  # (N, k, HW)
    if bias is not None:
        cams = cams + bias[class_idx].unsqueeze(-1).to(cams.dtype)
    return cams.reshape(n, class_idx.size(1), h, w)


@torch.no_grad()
def negative_cam_stats(feat_map: Tensor, weight: Tensor, bias: Optional[Tensor],
                       scores: Tensor, positive: Tensor, exclude: Tensor,
                       k: int) -> dict:
    """Per-sample statistics of the top-k negative CAMs against the target's.

    The negatives are chosen as in training: the ``k`` highest ``scores``
    among the classes not in ``exclude``. For a CAM ``M`` its *contrast* is
    ``max_p M(p) - mean_p M(p)``, i.e. its spatial peak above its own mean
    (the mean is the logit); the contrast is what HNC drives to zero.

    Args:
        feat_map (Tensor): Feature map, shape (N, C, H, W).
        weight (Tensor): Classifier weight, shape (K, C).
        bias (Tensor, optional): Classifier bias, shape (K, ).
        scores (Tensor): Logits, shape (N, K).
        positive (Tensor): Bool (N, K), the target classes.
        exclude (Tensor): Bool (N, K), classes never used as negatives
            (positives plus e.g. VOC difficult labels).
        k (int): Number of negatives, ``1 <= k < K``.

    Returns:
        dict[str, Tensor]: each of shape (N, ), float32:

        - ``neg_contrast``: largest contrast among the selected negatives;
        - ``tgt_contrast``: largest contrast among the positive classes
          (NaN for a sample without positives);
        - ``neg_peak`` / ``tgt_peak``: the same with raw CAM maxima;
        - ``pos_share``: share of positions with a positive CAM value over
          all selected negative CAMs (NaN when a sample has no negative).
    """
    return cam_stats(
        class_activation_maps(feat_map.float(), weight.float(),
                              None if bias is None else bias.float()), scores, positive,
        exclude, k)


@torch.no_grad()
def cam_stats(cams: Tensor, scores: Tensor, positive: Tensor, exclude: Tensor,
              k: int) -> dict:
    """:func:`negative_cam_stats` from the CAMs of all classes, (N, K, H, W)."""
    idx, valid = select_negatives(scores, exclude, k)
    full = cams.float().flatten(2)  # (N, K, P)
    neg = full.gather(1, idx[..., None].expand(-1, -1, full.size(2)))  # (N, k, P)
    neg_max = neg.amax(-1)
    neg_contrast = neg_max - neg.mean(-1)
    ninf = torch.tensor(float('-inf'), device=neg.device)
    n_valid = valid.sum(1)

    def _masked_max(v, m):
        out = torch.where(m, v, ninf).amax(1)
        return torch.where(m.any(1), out, torch.full_like(out, float('nan')))

    pos_pixels = ((neg > 0).float().mean(-1) * valid).sum(1)
    pos_share = torch.where(n_valid > 0, pos_pixels / n_valid.clamp(min=1),
                            torch.full_like(pos_pixels, float('nan')))
    full_max = full.amax(-1)
    full_contrast = full_max - full.mean(-1)
    return dict(
        neg_contrast=_masked_max(neg_contrast, valid),
        tgt_contrast=_masked_max(full_contrast, positive),
        neg_peak=_masked_max(neg_max, valid),
        tgt_peak=_masked_max(full_max, positive),
        pos_share=pos_share)
