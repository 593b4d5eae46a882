"""Homogeneous Negative CAM (HNC) loss.

Sun et al., "Fixing Localization Errors to Improve Image Classification",
ECCV 2020. Per sample, the ``k`` most confusing negative classes (highest logits
among the classes that are not positive) are selected and their class
activation maps (CAMs) are pushed to be spatially homogeneous:

- ``mode='kd'``: cross-entropy between the uniform distribution over the H*W
  positions and the spatial softmax of each selected CAM (divided by
  ``temperature``), summed over the selected negatives;
- ``mode='mse'``: mean squared distance of the selected CAMs to the constant
  level ``alpha``, averaged over the selected negatives and positions.

The functional core (:func:`select_negatives`, :func:`hnc_loss`) works on
plain tensors; :class:`HNCLoss` wraps it with mmpretrain's loss conventions.
The heads in :mod:`colorssl.models.heads` build the CAMs and call it.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS
from torch import Tensor

HNC_MODES = ('kd', 'mse')


def positive_mask(target: Tensor,
                  num_classes: int,
                  key: str = 'model.head.num_classes') -> Tensor:
    """Boolean mask of the classes that must not be used as negatives.

    Args:
        target (Tensor): Either hard labels of shape (N, ) or (N, 1) (integer),
            or scores of shape (N, K): one-hot, multi-hot, Mixup/CutMix soft
            labels. A class is positive when its score is non-zero.
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
            target.size(0), num_classes, dtype=torch.bool,
            device=target.device)
        mask[torch.arange(target.size(0), device=target.device), target] = True
        return mask
    if target.dim() == 2:
        if target.size(1) != num_classes:
            raise ValueError(
                f'target scores have {target.size(1)} classes but {key}='
                f'{num_classes}; check `data_preprocessor.num_classes` and the '
                'dataset classes.')
        return target != 0
    raise ValueError('target must have shape (N, ), (N, 1) or (N, K), got '
                     f'{tuple(target.shape)}')


def select_negatives(scores: Tensor, exclude: Tensor,
                     k: int) -> Tuple[Tensor, Tensor]:
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


def hnc_loss(neg_cams: Tensor,
             valid: Optional[Tensor] = None,
             mode: str = 'kd',
             temperature: float = 1.0,
             alpha: float = 0.0,
             weight: Optional[Tensor] = None,
             reduction: str = 'mean',
             avg_factor: Optional[float] = None) -> Tensor:
    r"""HNC loss of the selected negative CAMs.

    Per sample :math:`i` with selected negatives :math:`j` and positions
    :math:`p = 1..P` (:math:`P = HW`):

    - kd: :math:`\sum_j -\frac{1}{P}\sum_p \log
      \mathrm{softmax}_p(M_{ij}/T)`, i.e. cross-entropy of the spatial
      softmax against the uniform distribution (its minimum is
      :math:`k \log P`, reached by a constant CAM);
    - mse: :math:`\frac{1}{kP}\sum_j\sum_p (M_{ij}(p) - \alpha)^2`.

    Args:
        neg_cams (Tensor): CAMs of the selected negatives, shape (N, k, H, W)
            or (N, k, P).
        valid (Tensor, optional): Bool mask (N, k); invalid entries do not
            contribute (mse then averages over the valid ones only).
        mode (str): ``'kd'`` or ``'mse'``. Defaults to ``'kd'``.
        temperature (float): Softmax temperature for ``'kd'``. Defaults to 1.
        alpha (float): Target level for ``'mse'``. Defaults to 0.
        weight (Tensor, optional): Sample-wise weight, shape (N, ).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): Divisor of the sum for ``'mean'``.

    Returns:
        Tensor: Scalar loss, or shape (N, ) for ``reduction='none'``.
    """
    if mode not in HNC_MODES:
        raise ValueError(f'mode must be one of {HNC_MODES}, got {mode!r}')
    n, k = neg_cams.shape[:2]
    cams = neg_cams.reshape(n, k, -1).float()
    if mode == 'kd':
        z = cams / temperature
        # -mean_p log softmax_p(z) = logsumexp(z) - mean_p(z)
        per_neg = torch.logsumexp(z, dim=-1) - z.mean(dim=-1)
    else:
        per_neg = (cams - alpha).pow(2).mean(dim=-1)
    if valid is None:
        valid = torch.ones_like(per_neg, dtype=torch.bool)
    per_neg = per_neg * valid
    if mode == 'kd':
        loss = per_neg.sum(dim=1)
    else:
        loss = per_neg.sum(dim=1) / valid.sum(dim=1).clamp(min=1)
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class HNCLoss(nn.Module):
    """Homogeneous Negative CAM loss (mmpretrain loss conventions).

    The loss itself takes the CAMs of the already-selected negatives; ``k`` is
    read by the head, which selects the negatives and builds only their CAMs.

    Args:
        k (int): Number of most confusing negative classes per sample. Must be
            smaller than the head's ``num_classes`` (checked when the head is
            built). Defaults to 100 (the paper's ImageNet setting).
        mode (str): ``'kd'`` (uniform-vs-softmax cross-entropy) or ``'mse'``
            (squared distance to ``alpha``). Defaults to ``'kd'``.
        temperature (float): Softmax temperature for ``'kd'``. Defaults to 1.
        alpha (float): Constant target level for ``'mse'``. Defaults to 0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): The paper's lambda. Defaults to 1.0.
    """

    def __init__(self,
                 k: int = 100,
                 mode: str = 'kd',
                 temperature: float = 1.0,
                 alpha: float = 0.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if mode not in HNC_MODES:
            raise ValueError(f'HNCLoss.mode must be one of {HNC_MODES}, got '
                             f'{mode!r} (config key `model.head.hnc_loss.mode`)')
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError('HNCLoss.k must be a positive integer, got '
                             f'{k!r} (config key `model.head.hnc_loss.k`)')
        if temperature <= 0:
            raise ValueError('HNCLoss.temperature must be > 0, got '
                             f'{temperature} (`model.head.hnc_loss.'
                             'temperature`)')
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError("HNCLoss.reduction must be 'none', 'mean' or "
                             f"'sum', got {reduction!r}")
        self.k = k
        self.mode = mode
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.reduction = reduction
        self.loss_weight = loss_weight

    def check_num_classes(self,
                          num_classes: int,
                          key: str = 'model.head.hnc_loss.k') -> None:
        """Raise a ValueError naming ``key`` unless ``k < num_classes``."""
        if self.k >= num_classes:
            raise ValueError(
                f'{key}={self.k} must be smaller than the number of classes '
                f'({num_classes}): HNC needs k negatives besides the target. '
                f'Use e.g. k={max(1, num_classes // 10)} (the paper uses '
                '100 of 1000).')

    def forward(self,
                neg_cams: Tensor,
                valid: Optional[Tensor] = None,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the weighted HNC loss.

        Args:
            neg_cams (Tensor): CAMs of the selected negatives, shape
                (N, k, H, W) or (N, k, H*W).
            valid (Tensor, optional): Bool mask (N, k) of real negatives.
            weight (Tensor, optional): Sample-wise weight, shape (N, ).
            avg_factor (float, optional): Divisor for ``'mean'`` reduction.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The loss, multiplied by ``loss_weight``.
        """
        assert reduction_override in (None, 'none', 'mean', 'sum')
        reduction = reduction_override if reduction_override else \
            self.reduction
        return self.loss_weight * hnc_loss(
            neg_cams,
            valid,
            mode=self.mode,
            temperature=self.temperature,
            alpha=self.alpha,
            weight=weight,
            reduction=reduction,
            avg_factor=avg_factor)

    def extra_repr(self) -> str:
        return (f'k={self.k}, mode={self.mode!r}, temperature='
                f'{self.temperature}, alpha={self.alpha}, loss_weight='
                f'{self.loss_weight}')
