"""Rebalanced multinomial cross-entropy over soft-encoded ab bins (Zhang et al.
2016, Eq. 2)."""
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


def multinomial_color_loss(logits: torch.Tensor,
                           target_idx: torch.Tensor,
                           target_weight: torch.Tensor,
                           pixel_weight: Optional[torch.Tensor] = None,
                           sample_mask: Optional[torch.Tensor] = None,
                           avg_factor: Union[float, torch.Tensor,
                                             None] = None) -> torch.Tensor:
    """-sum_{h,w} v(h,w) sum_q Z(h,w,q) log Zhat(h,w,q), averaged over kept pixels.

    The soft target Z is sparse: K bins per pixel, so the loss gathers K
    log-probabilities per pixel instead of building an (N, Q, H, W) target.
    The log-softmax is computed in float32 whatever the dtype of ``logits``
    (fp16/bf16 logits under AMP would lose the small probabilities).

    Args:
        logits (Tensor): (N, Q, H, W) bin scores, any float dtype.
        target_idx (Tensor): (N, K, H, W) long, the K bins of each pixel's target.
        target_weight (Tensor): (N, K, H, W), the target mass of those bins
            (sums to 1 over K).
        pixel_weight (Tensor, optional): (N, H, W) rebalancing weight v per pixel.
        sample_mask (Tensor, optional): (N,) bool, samples that keep their loss
            (False for grayscale images).
        avg_factor (float | Tensor, optional): Divide the weighted sum by this
            instead of by the number of kept pixels here (the mmdet/mmpretrain
            convention; e.g. the kept pixels of all processes, so that two
            processes at batch B give the loss of one at batch 2B). Clamped to
            at least float32 eps, so 0 (nothing kept anywhere) gives 0.

    Returns:
        Tensor: scalar float32 loss, the weighted sum over kept pixels divided by
        their number or ``avg_factor`` (0 with a graph when no sample is kept).
    """
    if logits.dim() != 4 or target_idx.shape != target_weight.shape:
        raise ValueError('expected logits (N, Q, H, W) and targets (N, K, H, W), got '
                         f'{tuple(logits.shape)}, {tuple(target_idx.shape)}, '
                         f'{tuple(target_weight.shape)}')
    if target_idx.shape[0] != logits.shape[0] or \
            target_idx.shape[2:] != logits.shape[2:]:
        raise ValueError(f'target {tuple(target_idx.shape)} does not match logits '
                         f'{tuple(logits.shape)} in N, H, W')
    # The bins are made the last dimension: log_softmax and gather then run
    # along contiguous memory when the logits are channels-last (as
    # ColorizationHead makes them); the result is the same for any layout.
    log_prob = F.log_softmax(logits.float().permute(0, 2, 3, 1), dim=-1)
    return soft_target_nll(log_prob, target_idx, target_weight, pixel_weight,
                           sample_mask, avg_factor)


def soft_target_nll(log_prob: torch.Tensor,
                    target_idx: torch.Tensor,
                    target_weight: torch.Tensor,
                    pixel_weight: Optional[torch.Tensor] = None,
                    sample_mask: Optional[torch.Tensor] = None,
                    avg_factor: Union[float, torch.Tensor,
                                      None] = None) -> torch.Tensor:
    """The loss of :func:`multinomial_color_loss` given log-probabilities.

    A gather of the K log-probabilities of every pixel; autograd derives the
    backward. The sum over pixels is taken in float64, so that its order
    (which depends on the thread count) moves the result by far less than
    float32 rounding.

    Args:
        log_prob (Tensor): (N, H, W, Q) log-probabilities over the bins (bins
            last).
        target_idx, target_weight, pixel_weight, sample_mask, avg_factor: As in
            :func:`multinomial_color_loss`.

    Returns:
        Tensor: scalar loss, dtype of ``log_prob``.
    """
    picked = log_prob.gather(-1, target_idx.permute(0, 2, 3, 1))  # (N, H, W, K)
    per_pixel = -(picked * target_weight.permute(0, 2, 3, 1)).sum(-1)  # (N, H, W)
    if pixel_weight is not None:
        per_pixel = per_pixel * pixel_weight
    if sample_mask is not None:
        per_pixel = per_pixel * sample_mask.to(per_pixel.dtype)[:, None, None]
    total = per_pixel.sum(dtype=torch.float64)
    if avg_factor is None:
        kept = per_pixel[0].numel() * (
            per_pixel.shape[0] if sample_mask is None else sample_mask.sum())
        avg_factor = torch.as_tensor(kept, device=total.device).clamp(min=1)
    else:
        avg_factor = torch.as_tensor(
            avg_factor, dtype=torch.float64,
            device=total.device).clamp(min=torch.finfo(torch.float32).eps)
    return (total / avg_factor).to(log_prob.dtype)


@MODELS.register_module()
class MultinomialColorLoss(nn.Module):
    """Module wrapper of :func:`multinomial_color_loss`.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                logits,
                target_idx,
                target_weight,
                pixel_weight=None,
                sample_mask=None,
                avg_factor=None) -> torch.Tensor:
        """See :func:`multinomial_color_loss` for the shapes."""
        return self.loss_weight * multinomial_color_loss(
            logits, target_idx, target_weight, pixel_weight, sample_mask, avg_factor)
