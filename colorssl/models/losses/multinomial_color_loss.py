"""Rebalanced multinomial cross-entropy over soft-encoded ab bins (Zhang et al.
2016, Eq. 2)."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS


def soft_target_nll(log_prob: torch.Tensor, target_idx: torch.Tensor,
                    target_weight: torch.Tensor) -> torch.Tensor:
    """``-sum_k Z_k log p_k`` per pixel, for log-probabilities ``log_prob`` (N, H,
    W, Q) (bins last) and a soft target Z of K bins ``target_idx`` (N, K, H, W)
    with masses ``target_weight`` (N, K, H, W): (N, H, W)."""
    picked = log_prob.gather(-1, target_idx.permute(0, 2, 3, 1))
    return -(picked * target_weight.permute(0, 2, 3, 1)).sum(-1)


def multinomial_color_loss(pred: torch.Tensor,
                           label: Sequence[torch.Tensor],
                           weight: Optional[torch.Tensor] = None,
                           reduction: str = 'mean',
                           avg_factor=None) -> torch.Tensor:
    """``-sum_hw v(h, w) sum_q Z(h, w, q) log softmax(pred)(h, w, q)``, reduced.

    The log-softmax runs in float32 whatever the dtype of ``pred`` (fp16 logits
    under AMP would lose the small probabilities).

    Args:
        pred (Tensor): (N, Q, H, W) bin scores.
        label (tuple[Tensor]): The soft target Z: its K bins per pixel (N, K, H, W)
            long and their masses (N, K, H, W), summing to 1 over K.
        weight (Tensor, optional): (N, H, W) pixel weights v (the rebalancing
            weights, 0 for pixels without loss).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float | Tensor, optional): The divisor of ``'mean'``.

    Returns:
        Tensor: float32, (N, H, W) for ``'none'``, else a scalar.
    """
    idx, mass = label
    if pred.dim() != 4 or idx.shape != mass.shape or idx.dim() != 4 or \
            idx.shape[0] != pred.shape[0] or idx.shape[2:] != pred.shape[2:]:
        raise ValueError(f'target {tuple(idx.shape)}, {tuple(mass.shape)} does not '
                         f'match logits {tuple(pred.shape)} (N, Q, H, W) in N, H, W')
    log_prob = F.log_softmax(pred.float().permute(0, 2, 3, 1), dim=-1)
    loss = soft_target_nll(log_prob, idx, mass.float())
    weight = None if weight is None else weight.float()
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class MultinomialColorLoss(nn.Module):
    """:func:`multinomial_color_loss` as a module.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to 'mean'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                cls_score: torch.Tensor,
                label: Sequence[torch.Tensor],
                weight: Optional[torch.Tensor] = None,
                avg_factor=None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """The loss of ``cls_score`` (N, Q, H, W) for the soft target ``label``
        and pixel weights ``weight`` (N, H, W); see :func:`multinomial_color_loss`."""
        assert reduction_override in (None, 'none', 'mean', 'sum')
        reduction = reduction_override or self.reduction
        return self.loss_weight * multinomial_color_loss(cls_score, label, weight,
                                                         reduction, avg_factor)
