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

The functional core :func:`hnc_loss` works on plain tensors; :class:`HNCLoss`
wraps it with mmpretrain's loss conventions. The heads in
:mod:`colorssl.models.heads` select the negatives
(:mod:`colorssl.models.utils.negative_selection`), build their CAMs and call it.

Distributed training: the loss of a sample depends only on that sample (its
negatives are chosen among the classes, never across the batch), and the heads
average it over the local batch (``avg_factor`` = local N). DDP averages the
gradients over the ranks, so R ranks of equal batch B give the HNC gradients
of one process at batch R*B (BatchNorm statistics, per rank unless synced,
aside).
"""
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS
from torch import Tensor

HNC_MODES = ('kd', 'mse')


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
