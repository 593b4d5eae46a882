"""Positive classes of a target and the top-k negatives HNC pushes."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def positive_mask(target: Tensor,
                  num_classes: int,
                  key: str = 'model.head.num_classes') -> Tensor:
    """Bool mask of the target classes.

    Args:
        target (Tensor): Hard labels (N, ) or (N, 1), or scores (N, K) read by
            :func:`soft_positive_mask` (a row with no derivable positive is
            all True, i.e. has no negatives).
        num_classes (int): K.
        key (str): Config key named in errors.

    Returns:
        Tensor: Bool mask (N, K).
    """
    if target.dim() == 2 and target.size(1) == 1 and num_classes != 1:
        target = target.view(-1)
    if target.dim() != 1:
        positive, underived = soft_positive_mask(target, num_classes, key)
        return positive | underived[:, None]
    bad = target[(target < 0) | (target >= num_classes)]
    if bad.numel():
        raise ValueError(
            f'label {int(bad[0])} is out of range for {key}={num_classes}; '
            'check the dataset classes against the config.')
    return F.one_hot(target.long(), num_classes).bool()


def soft_positive_mask(scores: Tensor,
                       num_classes: Optional[int] = None,
                       key: str = 'model.head.num_classes') -> Tuple[Tensor, Tensor]:
    """Positive classes of soft targets: the non-zero classes of a row with a
    zero, else those above the row mean (plus 1e-6 of the row's maximum).

    Args:
        scores (Tensor): Non-negative soft targets, shape (N, K).
        num_classes (int, optional): Expected K.
        key (str): Config key named in errors.

    Returns:
        tuple[Tensor, Tensor]: ``positive`` (N, K) bool and ``underived``
        (N, ) bool, True for dense rows with every class equal (their
        ``positive`` row is all False).
    """
    if scores.dim() != 2 or num_classes not in (None, scores.size(1)):
        raise ValueError(f'target scores of shape {tuple(scores.shape)} have '
                         f'{scores.size(-1)} classes but must be (N, K) with {key}='
                         f'{num_classes}; check `data_preprocessor.num_classes`.')
    s = scores.detach().double()
    sparse = (s == 0).any(dim=1, keepdim=True)
    margin = 1e-6 * s.abs().amax(dim=1, keepdim=True)
    dense_pos = s > s.mean(dim=1, keepdim=True) + margin
    underived = ~sparse.squeeze(1) & ~dense_pos.any(dim=1)
    return torch.where(sparse, s != 0, dense_pos), underived


def select_negatives(scores: Tensor, exclude: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """The ``k`` highest-scoring classes that are not excluded.

    Args:
        scores (Tensor): Logits, shape (N, K); no gradient flows.
        exclude (Tensor): Bool (N, K), classes that are never negatives.
        k (int): Negatives per sample, ``1 <= k < K``.

    Returns:
        tuple[Tensor, Tensor]: ``idx`` (N, k) long, by decreasing score, and
        ``valid`` (N, k) bool, False where a sample has fewer than k negatives.
    """
    if not 1 <= k < scores.size(1):
        raise ValueError(f'k={k} must satisfy 1 <= k < num_classes={scores.size(1)}')
    masked = scores.detach().float().masked_fill(exclude, float('-inf'))
    values, idx = masked.topk(k, dim=1)
    return idx, torch.isfinite(values)
