"""Decoding a predicted distribution over ab bins into ab values."""
import torch
from torch import Tensor


def annealed_mean(logits: Tensor, bins: Tensor, temperature: float = 0.38) -> Tensor:
    """The mean of ``f_T(z) = softmax(log(z) / T)`` (Zhang et al. 2016, Eq. 5) for
    ``z = softmax(logits)`` over the bins, that is of ``softmax(logits / T)``.

    ``T = 1`` gives the mean of ``z``, ``T -> 0`` its mode; the released model
    used ``T = 1 / 2.606``, about 0.38. Differentiable.

    Args:
        logits (Tensor): (N, Q, H, W) scores.
        bins (Tensor): (Q, 2) bin centres.
        temperature (float): T > 0. Defaults to 0.38.

    Returns:
        Tensor: (N, 2, H, W) ab, dtype of ``logits``.
    """
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature!r}')
    if logits.dim() != 4:
        raise ValueError(f'logits must have shape (N, Q, H, W), got '
                         f'{tuple(logits.shape)}')
    if bins.dim() != 2 or bins.shape != (logits.shape[1], 2):
        raise ValueError(f'bins must have shape (Q, 2) with Q = {logits.shape[1]} '
                         f'(the logits channels), got {tuple(bins.shape)}')
    prob = torch.softmax(logits / temperature, dim=1)
    bins = bins.to(device=logits.device, dtype=logits.dtype)
    return torch.einsum('nqhw,qc->nchw', prob, bins).contiguous()
