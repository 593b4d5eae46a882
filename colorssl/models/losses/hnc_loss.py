"""Homogeneous Negative CAM (HNC) loss.

Sun et al., "Fixing Localization Errors to Improve Image Classification",
ECCV 2020: the CAMs of the k most confusing negative classes are pushed to be
spatially homogeneous.
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

    Per sample, over its negatives :math:`j` and positions :math:`p = 1..P`:

    - kd: :math:`\sum_j -\frac{1}{P}\sum_p \log\mathrm{softmax}_p(M_j/T)`
      (minimum :math:`k \log P`, for constant CAMs);
    - mse: :math:`\frac{1}{kP}\sum_j\sum_p (M_j(p) - \alpha)^2`.

    Args:
        neg_cams (Tensor): Shape (N, k, H, W) or (N, k, P).
        valid (Tensor, optional): Bool (N, k); invalid negatives add nothing
            (mse averages over the valid ones).
        mode (str): ``'kd'`` or ``'mse'``. Defaults to ``'kd'``.
        temperature (float): Softmax temperature T of kd. Defaults to 1.
        alpha (float): Target level of mse. Defaults to 0.
        weight (Tensor, optional): Sample-wise weight, shape (N, ).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): Divisor of the sum for ``'mean'``.

    Returns:
        Tensor: Scalar, or shape (N, ) for ``reduction='none'``.
    """
    if mode not in HNC_MODES:
        raise ValueError(f'mode must be one of {HNC_MODES}, got {mode!r}')
    cams = neg_cams.flatten(2).float()
    if mode == 'kd':
        z = cams / temperature
        per_neg = torch.logsumexp(z, dim=-1) - z.mean(dim=-1)
    else:
        per_neg = (cams - alpha).pow(2).mean(dim=-1)
    if valid is None:
        valid = torch.ones_like(per_neg, dtype=torch.bool)
    loss = (per_neg * valid).sum(dim=1)
    if mode == 'mse':
        loss = loss / valid.sum(dim=1).clamp(min=1)
    weight = None if weight is None else weight.float()
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class HNCLoss(nn.Module):
    """Homogeneous Negative CAM loss on the CAMs of selected negatives.

    Args:
        k (int): Negatives per sample, read by the head that selects them;
            smaller than ``num_classes``. Defaults to 100.
        mode (str): ``'kd'`` or ``'mse'``, see :func:`hnc_loss`.
            Defaults to ``'kd'``.
        temperature (float): Softmax temperature of kd. Defaults to 1.
        alpha (float): Target level of mse. Defaults to 0.
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
            raise ValueError(f'HNCLoss.mode must be one of {HNC_MODES}, got {mode!r}')
        if not isinstance(k, int) or k < 1:
            raise ValueError(f'HNCLoss.k must be a positive integer, got {k!r}')
        if temperature <= 0:
            raise ValueError(f'HNCLoss.temperature must be > 0, got {temperature}')
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError("HNCLoss.reduction must be 'none', 'mean' or 'sum', "
                             f'got {reduction!r}')
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
            raise ValueError(f'{key}={self.k} must be smaller than the number of '
                             f'classes ({num_classes}); e.g. k='
                             f'{max(1, num_classes // 10)} (the paper: 100 of 1000).')

    def forward(self,
                neg_cams: Tensor,
                valid: Optional[Tensor] = None,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """:func:`hnc_loss` of ``neg_cams`` (N, k, H, W) or (N, k, H*W) times
        ``loss_weight``; ``reduction_override`` replaces ``reduction``."""
        assert reduction_override in (None, 'none', 'mean', 'sum')
        reduction = reduction_override or self.reduction
        loss = hnc_loss(neg_cams, valid, self.mode, self.temperature, self.alpha,
                        weight, reduction, avg_factor)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'k={self.k}, mode={self.mode!r}, temperature={self.temperature}, '
                f'alpha={self.alpha}, loss_weight={self.loss_weight}')
