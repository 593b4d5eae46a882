"""Class rebalancing of the colorization loss (Zhang et al., ECCV 2016, Sec. 2.2).

The ab-bin distribution ``p`` of the training set, smoothed with a Gaussian, is
mixed with a uniform ``u`` and inverted, ``w = ((1 - lambda) p + lambda u)^-1``,
scaled so that ``sum_q p_q w_q = 1``; a pixel's loss is weighted by the ``w`` of
its nearest bin.
"""
import torch
from torch import Tensor

from .encode import nearest_bin


def _check_prior(prior: Tensor) -> Tensor:
    """``prior`` (Q,) as float64, checked finite, non-negative, positive sum."""
    if not isinstance(prior, Tensor):
        raise TypeError(f'prior must be a Tensor of shape (Q,), got {type(prior)!r}')
    if prior.dim() != 1 or prior.numel() == 0:
        raise ValueError(f'prior must have shape (Q,), got {tuple(prior.shape)}')
    p = prior.detach().to(torch.float64)
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError('prior must be finite and non-negative')
    if not p.sum() > 0:
        raise ValueError('prior must have a positive sum')
    return p


def _out_dtype(prior: Tensor) -> torch.dtype:
    return torch.float64 if prior.dtype == torch.float64 else torch.float32


def histogram_ab(ab: Tensor, bins: Tensor) -> Tensor:
    """Counts (Q,) int64 of the ab values ``ab`` ((N, 2, H, W) or (M, 2)) by
    their nearest of the ``bins`` (Q, 2)."""
    if ab.dim() == 2 and ab.shape[1] == 2:
        ab = ab.t().reshape(1, 2, -1, 1)
    elif not (ab.dim() == 4 and ab.shape[1] == 2):
        raise ValueError(f'ab must have shape (N, 2, H, W) or (M, 2), got '
                         f'{tuple(ab.shape)}')
    return torch.bincount(nearest_bin(ab, bins).reshape(-1), minlength=bins.shape[0])


def smooth_prior(prior: Tensor, bins: Tensor, sigma: float = 5.0) -> Tensor:
    """``s_i = sum_j prior_j exp(-|c_i - c_j|^2 / (2 sigma^2))`` over the bin
    centres ``c``, normalised to sum 1 (mass spread beyond the bins is dropped).

    Args:
        prior (Tensor): (Q,) non-negative weights.
        bins (Tensor): (Q, 2) bin centres.
        sigma (float): Kernel width in Lab units. Defaults to 5.

    Returns:
        Tensor: (Q,), float64 for a float64 ``prior``, else float32.
    """
    p = _check_prior(prior)
    if bins.dim() != 2 or bins.shape != (p.shape[0], 2):
        raise ValueError(f'bins must have shape ({p.shape[0]}, 2) to match the '
                         f'prior, got {tuple(bins.shape)}')
    if not sigma > 0:
        raise ValueError(f'sigma must be > 0, got {sigma!r}')
    c = bins.detach().to(device=p.device, dtype=torch.float64)
    d2 = ((c[:, None] - c[None])**2).sum(-1)
    smoothed = (torch.exp(-d2 / (2.0 * sigma**2)) * p).sum(1)
    return (smoothed / smoothed.sum()).to(_out_dtype(prior))


def rebalance_weights(prior: Tensor,
                      lam: float = 0.5,
                      uniform_over: str = 'nonzero') -> Tensor:
    """Per-bin weights ``w ∝ ((1 - lam) p + lam u)^-1`` with ``sum(p w) = 1``.

    ``u`` is uniform over the bins of non-zero prior (``'nonzero'``, the released
    code) or over all Q bins (``'all'``, as the paper writes it). Zero-prior bins
    get the largest weight of the others (``'nonzero'``, or ``lam = 0``) or
    ``Q / lam`` (``'all'``), so every weight is finite.

    Args:
        prior (Tensor): (Q,) non-negative bin frequencies.
        lam (float): Weight of ``u`` in [0, 1]; 1 gives all ones. Defaults to 0.5.
        uniform_over (str): ``'nonzero'`` or ``'all'``. Defaults to ``'nonzero'``.

    Returns:
        Tensor: (Q,), float64 for a float64 ``prior``, else float32.
    """
    p = _check_prior(prior)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f'lam must be in [0, 1], got {lam!r}')
    if uniform_over not in ('nonzero', 'all'):
        raise ValueError(f"uniform_over must be 'nonzero' or 'all', got "
                         f'{uniform_over!r}')
    p = p / p.sum()
    if uniform_over == 'nonzero':
        u = (p > 0).to(p.dtype) / (p > 0).sum()
    else:
        u = torch.full_like(p, 1.0 / p.numel())
    mix = (1.0 - lam) * p + lam * u
    positive = mix > 0  # True at least where p > 0 unless lam == 1
    w = 1.0 / mix.masked_fill(~positive, 1.0)
    w = torch.where(positive, w, w[positive].max())
    return (w / (p * w).sum()).to(_out_dtype(prior))
