"""Decoding a predicted distribution over ab bins into ab values."""
import torch
from torch import Tensor


def annealed_mean(logits: Tensor,
                  bins: Tensor,
                  temperature: float = 0.38) -> Tensor:
    """Annealed mean of the predicted colour distribution.

    With ``z = softmax(logits)`` over the bins, the paper (Zhang et al., ECCV
    2016, Eq. 5) re-adjusts the distribution with a temperature,
    ``f_T(z) = exp(log(z) / T) / sum(exp(log(z) / T))``, and takes its mean
    ``H(z) = E[f_T(z)]``. Since ``log(softmax(l)) = l - logsumexp(l)``,
    ``f_T(softmax(l)) = softmax(l / T)``, which is what is computed here.
    ``T = 1`` gives the mean of ``z``; ``T -> 0`` gives its mode. The released
    model multiplied the logits by 2.606 (``T = 1 / 2.606``, about 0.38).

    Args:
        logits (Tensor): Unnormalised scores, shape ``(N, Q, H, W)``.
        bins (Tensor): Bin centres, shape ``(Q, 2)``.
        temperature (float): T > 0. Defaults to 0.38.

    Returns:
        Tensor: ab values, shape ``(N, 2, H, W)``, dtype of ``logits``.
    """
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature!r}')
    if logits.dim() != 4:
        raise ValueError(f'logits must have shape (N, Q, H, W), got '
                         f'{tuple(logits.shape)}')
    if bins.dim() != 2 or bins.shape[1] != 2 or bins.shape[0] != logits.shape[
            1]:
        raise ValueError(f'bins must have shape (Q, 2) with Q = '
                         f'{logits.shape[1]} (the logits channels), got '
                         f'{tuple(bins.shape)}')
    prob = torch.softmax(logits / temperature, dim=1)
    return torch.einsum('nqhw,qc->nchw', prob,
                        bins.to(device=logits.device, dtype=prob.dtype))
