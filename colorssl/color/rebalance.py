"""Class rebalancing of the colorization loss (Zhang et al., ECCV 2016,
Sec. 2.2).

The empirical distribution ``p`` of ab bins over a training set, smoothed
with a Gaussian, is mixed with a uniform distribution ``u`` and inverted:
``w = ((1 - lambda) * p + lambda * u)^-1``, normalised so that
``sum_q p_q w_q = 1``. A pixel's loss is weighted by the ``w`` of the bin its
soft target peaks at (its nearest bin).
"""
import io
import json
import os
import os.path as osp
from typing import Any, Dict, Optional, Union

import numpy as np
import torch
from torch import Tensor

from .bins import DATA_DIR
from .encode import nearest_bin

DEFAULT_PRIOR = osp.join(DATA_DIR, 'prior_313_cifar10mini.npz')
"""Prior over the ``'original313'`` bins shipped with colorssl (computed by
``tools/compute_color_prior.py`` on the cifar10-mini training split, smoothed
with sigma 5; its ``meta`` records how)."""

_REQUIRED_KEYS = ('prior', 'bins', 'meta')


def histogram_ab(ab: Tensor, bins: Tensor) -> Tensor:
    """Count ab values by their nearest bin.

    Args:
        ab (Tensor): ab values, shape ``(N, 2, H, W)`` or ``(M, 2)``.
        bins (Tensor): Bin centres, shape ``(Q, 2)``.

    Returns:
        Tensor: Counts, shape ``(Q,)``, int64.
    """
    if ab.dim() == 2 and ab.shape[1] == 2:
        ab = ab.t().reshape(1, 2, -1, 1)
    elif not (ab.dim() == 4 and ab.shape[1] == 2):
        raise ValueError(f'ab must have shape (N, 2, H, W) or (M, 2), got '
                         f'{tuple(ab.shape)}')
    idx = nearest_bin(ab, bins)
    return torch.bincount(idx.reshape(-1), minlength=bins.shape[0])


def smooth_prior(prior: Tensor, bins: Tensor, sigma: float = 5.0) -> Tensor:
    """Smooth a distribution over bins with a Gaussian in ab space.

    ``smoothed_i = sum_j prior_j * exp(-|c_i - c_j|^2 / (2 sigma^2))`` over
    the bin centres ``c``, renormalised to sum to 1 (mass that the kernel
    spreads beyond the bin set is dropped, as in a convolution on the grid).

    Args:
        prior (Tensor): Non-negative weights, shape ``(Q,)`` (need not sum
            to 1).
        bins (Tensor): Bin centres, shape ``(Q, 2)``.
        sigma (float): Kernel standard deviation in Lab units. Defaults to
            5.0.

    Returns:
        Tensor: Shape ``(Q,)``, sums to 1, float64 if ``prior`` is float64
        else float32.
    """
    p = _check_prior(prior)
    if bins.dim() != 2 or bins.shape != (p.shape[0], 2):
        raise ValueError(f'bins must have shape ({p.shape[0]}, 2) to match '
                         f'the prior, got {tuple(bins.shape)}')
    if not sigma > 0:
        raise ValueError(f'sigma must be > 0, got {sigma!r}')
    c = bins.detach().to(device=p.device, dtype=torch.float64)
    d2 = ((c[:, None] - c[None])**2).sum(-1)  # (Q, Q), no cancellation
    smoothed = (torch.exp(-d2 / (2.0 * sigma**2)) * p).sum(1)
    return (smoothed / smoothed.sum()).to(_out_dtype(prior))


def rebalance_weights(prior: Tensor,
                      lam: float = 0.5,
                      uniform_over: str = 'nonzero') -> Tensor:
    """Per-bin class-rebalancing weights.

    ``w ∝ ((1 - lam) * p + lam * u)^-1`` with ``p`` the prior normalised to
    sum 1, then scaled so that ``sum(p * w) = 1`` (the expected weight of a
    pixel drawn from the prior is one).

    ``u`` is uniform over the bins with non-zero prior by default, as the
    released code did; the paper writes ``u`` uniform over all ``Q`` bins
    (``uniform_over='all'``). The two differ only when some bins have zero
    prior (``Q_nz < Q``), in the weight that the rare bins reach.

    Zero-prior bins never occur as targets under the prior, but may under
    other data: they get the largest weight of the non-zero bins in
    ``'nonzero'`` mode (and when ``lam = 0``), and their finite formula
    value ``Q / lam`` in ``'all'`` mode, so every weight is finite.

    Args:
        prior (Tensor): Non-negative bin frequencies, shape ``(Q,)``.
        lam (float): Mixing weight of the uniform distribution, in [0, 1].
            ``lam = 1`` gives all-ones weights. Defaults to 0.5.
        uniform_over (str): ``'nonzero'`` or ``'all'``. Defaults to
            ``'nonzero'``.

    Returns:
        Tensor: Weights, shape ``(Q,)``, float64 if ``prior`` is float64 else
        float32.
    """
    p = _check_prior(prior)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f'lam must be in [0, 1], got {lam!r}')
    if uniform_over not in ('nonzero', 'all'):
        raise ValueError(f"uniform_over must be 'nonzero' or 'all', got "
                         f'{uniform_over!r}')
    p = p / p.sum()
    nonzero = p > 0
    if uniform_over == 'nonzero':
        u = nonzero.to(p.dtype) / nonzero.sum()
    else:
        u = torch.full_like(p, 1.0 / p.numel())
    mix = (1.0 - lam) * p + lam * u
    positive = mix > 0  # True at least where p > 0 unless lam == 1
    w = 1.0 / mix.masked_fill(~positive, 1.0)
    w = torch.where(positive, w, w[positive].max())
    w = w / (p * w).sum()
    return w.to(_out_dtype(prior))


def save_prior(path: str,
               prior: Tensor,
               bins: Tensor,
               meta: Dict[str, Any],
               counts: Optional[Tensor] = None) -> None:
    """Write a prior file (``.npz``) that :func:`load_prior` reads, atomically
    (the folder is created; an interrupted write leaves no partial file).

    Args:
        path (str): Output file; written as given (no suffix is added).
        prior (Tensor): Distribution over bins, shape ``(Q,)``.
        bins (Tensor): Bin centres it refers to, shape ``(Q, 2)``.
        meta (dict): JSON-serialisable description: which data, which
            command, the smoothing sigma, ...
        counts (Tensor, optional): Raw per-bin counts, shape ``(Q,)``.
    """
    prior_np = _to_numpy(prior, 'prior').astype(np.float64)
    bins_np = _to_numpy(bins, 'bins').astype(np.float32)
    if prior_np.ndim != 1 or bins_np.shape != (prior_np.shape[0], 2):
        raise ValueError(f'prior must have shape (Q,) and bins (Q, 2), got '
                         f'{prior_np.shape} and {bins_np.shape}')
    if not isinstance(meta, dict):
        raise TypeError(f'meta must be a dict, got {type(meta)!r}')
    arrays = dict(
        prior=prior_np, bins=bins_np, meta=np.array(json.dumps(meta, sort_keys=True)))
    if counts is not None:
        counts_np = _to_numpy(counts, 'counts')
        if counts_np.shape != prior_np.shape:
            raise ValueError(f'counts must have shape {prior_np.shape}, got '
                             f'{counts_np.shape}')
        arrays['counts'] = counts_np.astype(np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    # temp file + fsync + rename: a crash leaves the old file or the new one
    from colorssl.utils.atomic_io import atomic_write_bytes
    atomic_write_bytes(path, buffer.getvalue())


def load_prior(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """Read a prior file written by :func:`save_prior`.

    Returns:
        dict: ``prior`` (Tensor (Q,), float64), ``bins`` (Tensor (Q, 2),
        float32), ``meta`` (dict) and, when stored, ``counts`` (Tensor (Q,),
        int64).
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'prior file {path!r} does not exist; '
                                'compute one with tools/compute_color_prior.py')
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (ValueError, OSError) as e:
        raise ValueError(f'prior file {path!r} is not a readable .npz file '
                         f'({e})') from e
    missing = [key for key in _REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ValueError(f'prior file {path!r} lacks the keys {missing}; a '
                         f'prior file holds {list(_REQUIRED_KEYS)} (and '
                         "optionally 'counts'), see save_prior")
    prior = arrays['prior']
    bins = arrays['bins']
    if prior.ndim != 1 or bins.shape != (prior.shape[0], 2):
        raise ValueError(f'prior file {path!r}: prior must have shape (Q,) '
                         f'and bins (Q, 2), got {prior.shape} and '
                         f'{bins.shape}')
    try:
        meta = json.loads(str(arrays['meta'][()]))
    except ValueError as e:
        raise ValueError(f"prior file {path!r}: 'meta' is not a JSON string "
                         f'({e})') from e
    out = dict(
        prior=torch.from_numpy(prior.astype(np.float64)),
        bins=torch.from_numpy(bins.astype(np.float32)),
        meta=meta)
    if 'counts' in arrays:
        out['counts'] = torch.from_numpy(arrays['counts'].astype(np.int64))
    return out


def _check_prior(prior: Tensor) -> Tensor:
    if not isinstance(prior, Tensor):
        raise TypeError(f'prior must be a Tensor of shape (Q,), got '
                        f'{type(prior)!r}')
    if prior.dim() != 1 or prior.numel() == 0:
        raise ValueError(f'prior must have shape (Q,), got '
                         f'{tuple(prior.shape)}')
    p = prior.detach().to(torch.float64)
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError('prior must be finite and non-negative')
    if not p.sum() > 0:
        raise ValueError('prior must have a positive sum')
    return p


def _out_dtype(prior: Tensor) -> torch.dtype:
    return torch.float64 if prior.dtype == torch.float64 else torch.float32


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f'{name} must be a Tensor or numpy array, got '
                    f'{type(x)!r}')
