"""Soft-encoding of ab targets over the quantised bins (Zhang et al. 2016, Sec. 2.1).

Each ab value is spread over its K nearest bin centres with weights
``exp(-d^2 / (2 sigma^2))`` that sum to one (paper: K = 5, sigma = 5; the
released training code: K = 10).

The K nearest bins are exact, ties going to the lower bin index: ``torch.topk``
ranks int64 keys that put the bits of the float32 squared distance above the bin
index. Only candidate bins are ranked: ab space is cut into square cells of side
``s`` and each cell lists the bins within ``r + s sqrt(2)`` of its centre (``r``
the K-th nearest bin distance from the centre), which holds the K nearest bins of
any point of the cell. Points outside the cells are ranked against all bins.
"""
import functools
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

_PIXELS = 4096  # pixels ranked at a time: bounds the (pixels, candidates) keys
_CELL = 5.0  # side of the candidate cells, in Lab units (at least)


def _check_ab(ab: Tensor) -> Tensor:
    if not isinstance(ab, Tensor):
        raise TypeError(f'ab must be a Tensor of shape (N, 2, H, W), got {type(ab)!r}')
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f'ab must have shape (N, 2, H, W), got {tuple(ab.shape)}')
    if not ab.is_floating_point():
        raise TypeError(f'ab must be a floating point tensor, got {ab.dtype}')
    if not bool(torch.isfinite(ab).all()):
        raise ValueError('ab contains non-finite values (nan or inf)')
    return ab.detach() if ab.dtype in (torch.float32, torch.float64) else ab.float()


@functools.lru_cache(maxsize=16)
def _candidate_table(bins_bytes: bytes, k: int) -> Tuple[np.ndarray, ...]:
    """``origin`` (2,), ``cell`` (side), ``shape`` (2,) cells per axis and
    ``cand`` (cells, M) int64, the candidate bins of cell ``i * shape[1] + j``
    (``origin + cell * [i, i + 1) x [j, j + 1)``) padded with Q, for the float64
    bins ``bins_bytes`` (Q, 2)."""
    bins = np.frombuffer(bins_bytes).reshape(-1, 2)
    cell = max(_CELL, float(np.ptp(bins, axis=0).max()) / 128)
    origin = bins.min(0) - 2 * cell
    shape = np.ceil((bins.max(0) + 2 * cell - origin) / cell).astype(int)
    ij = np.stack(np.meshgrid(*map(np.arange, shape), indexing='ij'), -1).reshape(-1, 2)
    dist = np.sqrt((((origin + cell * (ij + 0.5))[:, None] - bins)**2).sum(-1))
    kth = np.partition(dist, k - 1, axis=1)[:, k - 1:k]
    keep = dist <= kth + cell * np.sqrt(2) + 1e-2  # 1e-2: margin for rounding
    order = np.argsort(~keep, axis=1, kind='stable')[:, :keep.sum(1).max()]
    cand = np.where(np.take_along_axis(keep, order, 1), order, len(bins))
    return origin, cell, shape, cand


class SoftEncoder(nn.Module):
    """Soft-encode ab maps over a set of bins (no autograd; the bins and the
    candidate table are non-persistent buffers).

    Args:
        bins (Tensor): (Q, 2) bin centres.
        num_neighbors (int): K, the bins each value is spread over. Defaults to 5.
        sigma (float): Gaussian width in Lab units. Defaults to 5.
    """

    def __init__(self, bins: Tensor, num_neighbors: int = 5, sigma: float = 5.0):
        super().__init__()
        if not isinstance(bins, Tensor) or bins.dim() != 2 or bins.shape[1] != 2 \
                or bins.shape[0] == 0:
            raise ValueError(f'bins must have shape (Q, 2), got '
                             f'{tuple(getattr(bins, "shape", ()))}')
        if not bool(torch.isfinite(bins).all()):
            raise ValueError('bins contain non-finite values')
        q = bins.shape[0]
        if type(num_neighbors) is not int or not 1 <= num_neighbors <= q:
            raise ValueError(f'num_neighbors must be an int in [1, {q}] (the number '
                             f'of bins), got {num_neighbors!r}')
        if not sigma > 0:
            raise ValueError(f'sigma must be > 0, got {sigma!r}')
        self.num_neighbors, self.sigma = num_neighbors, float(sigma)
        self.register_buffer('bins', bins.detach().float().clone(), persistent=False)
        self._origin, self._cell, self._shape, cand = _candidate_table(
            bins.detach().double().cpu().numpy().tobytes(), num_neighbors)
        self.register_buffer('candidates', torch.tensor(cand), persistent=False)
        # The bins and a bin at infinity, the candidates' padding index Q.
        padded = torch.cat([self.bins, self.bins.new_full((1, 2), float('inf'))])
        self.register_buffer('padded_bins', padded, persistent=False)
        self._bits = q.bit_length()

    def extra_repr(self) -> str:
        return (f'num_bins={self.bins.shape[0]}, num_neighbors={self.num_neighbors}, '
                f'sigma={self.sigma}')

    def _top(self, a: Tensor, b: Tensor, cand: Tensor, k: int) -> Tensor:
        """The k nearest (C, k) of the candidates ``cand`` (C, M) of the points
        ``(a, b)``, each (C,); nearest first."""
        bins = self.padded_bins.to(a.dtype)
        d2 = (a[:, None] - bins[cand, 0])**2 + (b[:, None] - bins[cand, 1])**2
        key = (d2.float().view(torch.int32).long() << self._bits) | cand
        return torch.topk(key, k, 1, largest=False).values & ((1 << self._bits) - 1)

    def _rank(self, a: Tensor, b: Tensor, k: int) -> Tensor:
        """The k nearest bins (C, k) int64 of the points ``(a, b)``, each (C,)."""
        rows, cols = self._shape
        out = []
        for a, b in zip(a.split(_PIXELS), b.split(_PIXELS)):
            u = torch.floor((a - self._origin[0]) / self._cell)
            v = torch.floor((b - self._origin[1]) / self._cell)
            cell = u.clamp(0, rows - 1).long() * cols + v.clamp(0, cols - 1).long()
            idx = self._top(a, b, self.candidates[cell], k)
            outside = ((u < 0) | (u >= rows) | (v < 0) | (v >= cols)).nonzero()[:, 0]
            if len(outside):
                every = torch.arange(len(self.bins), device=a.device)
                idx[outside] = self._top(a[outside], b[outside],
                                         every.expand(len(outside), -1), k)
            out.append(idx)
        return torch.cat(out)

    @torch.no_grad()
    def forward(self, ab: Tensor, bin_weight: Optional[Tensor] = None):
        """Soft-encode the finite ab map ``ab`` (N, 2, H, W).

        Returns:
            tuple[Tensor]: ``idx`` (N, K, H, W) int64, the K nearest bins, nearest
            first, and ``weight`` (N, K, H, W) (dtype of ``ab``, float32 for half),
            their Gaussian weights summing to 1 over K; with ``bin_weight`` (Q,),
            also ``bin_weight[idx[:, 0]]`` (N, H, W).
        """
        ab = _check_ab(ab)
        (n, _, h, w), k = ab.shape, self.num_neighbors
        if bin_weight is not None and bin_weight.shape != self.bins.shape[:1]:
            raise ValueError(f'bin_weight must have shape ({self.bins.shape[0]},) '
                             f'(one weight per bin), got {tuple(bin_weight.shape)}')
        a, b = ab[:, 0].reshape(-1), ab[:, 1].reshape(-1)
        idx = self._rank(a, b, k)
        bins = self.bins.double()
        a, b = a.double()[:, None], b.double()[:, None]
        d2 = (a - bins[idx, 0])**2 + (b - bins[idx, 1])**2
        weight = torch.exp((d2[:, :1] - d2) / (2.0 * self.sigma**2))
        weight = (weight / weight.sum(1, keepdim=True)).to(ab.dtype)
        out = tuple(x.view(n, h, w, k).permute(0, 3, 1, 2) for x in (idx, weight))
        if bin_weight is not None:
            out += (bin_weight[idx[:, 0]].view(n, h, w), )
        return out

    @torch.no_grad()
    def nearest(self, ab: Tensor) -> Tensor:
        """Nearest bin (N, H, W) int64 of every pixel of ``ab`` (N, 2, H, W)."""
        ab = _check_ab(ab)
        idx = self._rank(ab[:, 0].reshape(-1), ab[:, 1].reshape(-1), 1)
        return idx.view(ab.shape[0], *ab.shape[2:])


def nearest_bin(ab: Tensor, bins: Tensor) -> Tensor:
    """Nearest of the ``bins`` (Q, 2), ties to the lower index: (N, H, W) int64
    for ``ab`` (N, 2, H, W)."""
    return SoftEncoder(bins, num_neighbors=1).to(ab.device).nearest(ab)
