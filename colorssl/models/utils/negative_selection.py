"""Which classes an HNC head pushes as negatives.

Per sample, the negatives are the ``k`` highest-scoring classes that are not
excluded: not positive (hard label, Mixup/CutMix soft label, multi-hot
target) and not otherwise marked present (VOC ``difficult`` labels). Used by
the HNC heads and the negative-CAM statistics; the loss itself only sees the
CAMs of the selected classes.

Soft targets (``gt_score``, shape (N, K)) are read per row by
:func:`soft_positive_mask`:

- *sparse* rows, where some class scores exactly 0 (one-hot, multi-hot,
  Mixup/CutMix of one-hot targets): the positives are the non-zero classes;
- *dense* rows, where every class scores above 0 (a label-smoothing floor,
  targets smoothed before or after mixing, distillation targets): the
  positives are the classes scoring above the row mean, i.e. above
  ``1/K`` for a target that sums to 1. A smoothed, mixed target
  ``eps/K + (1 - eps) * w`` thus keeps as positives the classes whose mixing
  weight ``w_c`` exceeds ``1/K`` (the up to two mixed classes of Mixup/CutMix)
  whatever ``eps``, and the floor classes stay candidate negatives;
- dense rows with every class equal carry no class information: no positive
  can be derived from them (``underived``); :func:`positive_mask` then keeps
  every class out of their negatives, as the non-zero rule did.
"""
from typing import Tuple

import torch
from torch import Tensor


def positive_mask(target: Tensor,
                  num_classes: int,
                  key: str = 'model.head.num_classes') -> Tensor:
    """Boolean mask of the classes that must not be used as negatives.

    Args:
        target (Tensor): Either hard labels of shape (N, ) or (N, 1) (integer),
            or scores of shape (N, K): one-hot, multi-hot, Mixup/CutMix soft
            labels, smoothed targets, read by :func:`soft_positive_mask`
            (a row from which no positive can be derived has every class
            marked positive, i.e. no negatives).
        num_classes (int): K.
        key (str): Config key named in error messages.

    Returns:
        Tensor: Bool mask of shape (N, K), True for positive classes.

    Raises:
        ValueError: on labels outside ``[0, K)`` or scores whose width is not K.
    """
    if target.dim() == 2 and target.size(1) == 1 and num_classes != 1:
        target = target.view(-1)
    if target.dim() == 1:
        if target.is_floating_point():
            raise ValueError(f'hard labels must be integers, got {target.dtype}')
        if target.numel() and (int(target.min()) < 0
                               or int(target.max()) >= num_classes):
            bad = target[(target < 0) | (target >= num_classes)]
            raise ValueError(
                f'label {int(bad[0])} is out of range for {key}={num_classes} '
                f'(labels must lie in [0, {num_classes - 1}]); check the '
                'dataset classes against the config.')
        mask = torch.zeros(
            target.size(0), num_classes, dtype=torch.bool, device=target.device)
        mask[torch.arange(target.size(0), device=target.device), target] = True
        return mask
    if target.dim() == 2:
        if target.size(1) != num_classes:
            raise ValueError(
                f'target scores have {target.size(1)} classes but {key}='
                f'{num_classes}; check `data_preprocessor.num_classes` and the '
                'dataset classes.')
        positive, underived = soft_positive_mask(target)
        positive[underived] = True
        return positive
    raise ValueError('target must have shape (N, ), (N, 1) or (N, K), got '
                     f'{tuple(target.shape)}')


def soft_positive_mask(scores: Tensor) -> Tuple[Tensor, Tensor]:
    """Positive classes of soft targets, and the rows that have none.

    The rule (module docstring): in a row with a zero score the positives are
    the non-zero classes; in a row without one (dense: smoothing floor,
    smoothed and mixed, distillation) they are the classes scoring above the
    row mean (``1/K`` for a normalised target), with a relative margin of
    ``1e-6`` of the row's largest magnitude against rounding.

    Args:
        scores (Tensor): Soft targets, shape (N, K), non-negative.

    Returns:
        tuple[Tensor, Tensor]: ``positive`` (N, K) bool, and ``underived``
        (N, ) bool, True for dense rows with no class above the mean (every
        class equal), where no positive can be derived (their ``positive`` row
        is all False). An all-zero row has no positives and is not
        ``underived`` (a multi-label image without objects).
    """
    if scores.dim() != 2:
        raise ValueError('soft targets must have shape (N, K), got '
                         f'{tuple(scores.shape)}')
    s = scores.detach().double()
    sparse = (s == 0).any(dim=1, keepdim=True)
    margin = 1e-6 * s.abs().amax(dim=1, keepdim=True)
    dense_pos = s > s.mean(dim=1, keepdim=True) + margin
    positive = torch.where(sparse, s != 0, dense_pos)
    underived = ~sparse.squeeze(1) & ~dense_pos.any(dim=1)
    return positive, underived


def select_negatives(scores: Tensor, exclude: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Pick the ``k`` highest-scoring classes that are not excluded.

    Args:
        scores (Tensor): Logits, shape (N, K). Only their order matters; no
            gradient flows through the selection.
        exclude (Tensor): Bool mask (N, K), True for classes that are not
            negatives (positives, and e.g. VOC "difficult" labels).
        k (int): Number of negatives per sample, ``1 <= k < K``.

    Returns:
        tuple[Tensor, Tensor]: ``idx`` (N, k) long class indices sorted by
        decreasing score, and ``valid`` (N, k) bool, False where a sample has
        fewer than k negatives (the index there is meaningless).
    """
    if scores.shape != exclude.shape:
        raise ValueError(f'scores {tuple(scores.shape)} and exclude '
                         f'{tuple(exclude.shape)} must have the same shape')
    num_classes = scores.size(1)
    if not 1 <= k < num_classes:
        raise ValueError(f'k={k} must satisfy 1 <= k < num_classes='
                         f'{num_classes}')
    masked = scores.detach().float().masked_fill(exclude, float('-inf'))
    values, idx = masked.topk(k, dim=1)
    return idx, torch.isfinite(values)
