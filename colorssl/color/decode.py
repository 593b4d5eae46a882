"""Decoding a predicted distribution over ab bins into ab values."""
import torch
from torch import Tensor

from .pieces import in_pieces


def annealed_mean(logits: Tensor, bins: Tensor, temperature: float = 0.38) -> Tensor:
    """Annealed mean of the predicted colour distribution.

    With ``z = softmax(logits)`` over the bins, the paper (Zhang et al., ECCV
    2016, Eq. 5) re-adjusts the distribution with a temperature,
    ``f_T(z) = exp(log(z) / T) / sum(exp(log(z) / T))``, and takes its mean
    ``H(z) = E[f_T(z)]``. Since ``log(softmax(l)) = l - logsumexp(l)``,
    ``f_T(softmax(l)) = softmax(l / T)``, which is what is computed here.
    ``T = 1`` gives the mean of ``z``; ``T -> 0`` gives its mode. The released
    model multiplied the logits by 2.606 (``T = 1 / 2.606``, about 0.38).

    The softmax and the sums over the bins run on pieces of pixels small
    enough for torch to compute each in one thread (:mod:`.pieces`), so the
    result has the same bits for any CPU thread count. Differentiable.

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
    n, q, h, w = logits.shape
    if bins.dim() != 2 or bins.shape != (q, 2):
        raise ValueError(f'bins must have shape (Q, 2) with Q = {q} (the '
                         f'logits channels), got {tuple(bins.shape)}')
    bins = bins.to(device=logits.device, dtype=logits.dtype)

    def expectation(x: Tensor) -> Tensor:  # (C, Q) logits -> (C, 2) ab
        x = x / temperature
        e = torch.exp(x - x.max(dim=1, keepdim=True).values)
        return torch.stack(
            ((e * bins[:, 0]).sum(1), (e * bins[:, 1]).sum(1)), dim=1) / e.sum(
                1, keepdim=True)

    pixels = logits.permute(0, 2, 3, 1).reshape(-1, q)
    ab = in_pieces(expectation, pixels, width=q)
    return ab.view(n, h, w, 2).permute(0, 3, 1, 2).contiguous()
