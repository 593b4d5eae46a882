"""Soft-encoding of ab targets over the quantised bins.

Each ab value is spread over its ``K`` nearest bin centres with weights
``exp(-d^2 / (2 sigma^2))`` normalised to sum to one (Zhang et al., ECCV 2016,
Sec. 2.1: K = 5, sigma = 5; the released training code used K = 10).

The K nearest bins are found exactly: squared distances
``(a - a_q)^2 + (b - b_q)^2`` (element-wise, in the input's precision, rounded
to float32) and ``torch.topk``, a few thousand pixels at a time. Ties are
broken by bin index, the lower first: the ranking key packs the bit pattern
of the float32 distance (which orders non-negative floats like their values)
above the bin index into one int64, so no two keys are equal and any ``topk``
returns the same bins in the same order on any device.

Only candidate bins are ranked: ab space is cut into square cells of side
``s`` and each cell lists the bins within ``r + 2h`` of its centre (``r`` the
K-th nearest bin distance from the centre, ``h = s / sqrt(2)``). For a point
of the cell, the K bins nearest the centre are within ``r + h``, and any
unlisted bin is more than ``r + h`` away, so the unlisted bins are never among
its K nearest: the result is the brute-force one (with a margin of 0.01 for
float rounding). Points outside the table (far from all bins) are ranked
against all ``Q`` bins.

The weights are computed in float64 from the K distances, on pieces small
enough for torch to run them in one thread (:mod:`.pieces`): with the exact
ranking, the outputs are the same bits for any CPU thread count.
"""
import functools
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from .pieces import in_pieces

# Pixels ranked at a time: bounds the (pixels, candidates) key tensor.
_PIXELS = 4096
# Side of the candidate table's cells, in Lab units (at least).
_CELL = 5.0


def _check_ab(ab: Tensor) -> Tensor:
    if not isinstance(ab, Tensor):
        raise TypeError(f'ab must be a Tensor of shape (N, 2, H, W), '
                        f'got {type(ab)!r}')
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f'ab must have shape (N, 2, H, W), got '
                         f'{tuple(ab.shape)}')
    if not ab.is_floating_point():
        raise TypeError(f'ab must be a floating point tensor, got {ab.dtype}')
    if ab.dtype not in (torch.float32, torch.float64):
        ab = ab.float()
    if not bool(torch.isfinite(ab).all()):
        raise ValueError('ab contains non-finite values (nan or inf)')
    return ab.detach()


@functools.lru_cache(maxsize=16)
def _candidate_table(bins_bytes: bytes, k: int) -> Tuple[np.ndarray, ...]:
    """For the float64 bins ``bins_bytes`` (Q x 2): cells covering their
    bounding box plus two cells, and the bins that can be among the k nearest
    of a point in each (module docstring).

    Returns:
        tuple: ``origin`` (2,) and ``cell`` (float), cell ``(i, j)`` being
        ``origin + cell * [i, i + 1) x [j, j + 1)``; ``shape`` (2,) int, the
        number of cells per axis; ``cand`` (cells, M) int64, the candidates of
        cell ``i * shape[1] + j``, padded with ``Q`` (no bin).
    """
    bins = np.frombuffer(bins_bytes).reshape(-1, 2)
    cell = max(_CELL, float(np.ptp(bins, axis=0).max()) / 128)
    origin = bins.min(0) - 2 * cell
    shape = np.ceil((bins.max(0) + 2 * cell - origin) / cell).astype(int)
    ij = np.stack(
        np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing='ij'),
        -1).reshape(-1, 2)
    centres = origin + cell * (ij + 0.5)
    dist = np.sqrt(((centres[:, None] - bins[None])**2).sum(-1))
    kth = np.partition(dist, k - 1, axis=1)[:, k - 1:k]
    keep = dist <= kth + cell * np.sqrt(2) + 1e-2
    order = np.argsort(~keep, axis=1, kind='stable')[:, :keep.sum(1).max()]
    cand = np.where(np.take_along_axis(keep, order, 1), order, len(bins))
    return origin, cell, shape, cand


class SoftEncoder(nn.Module):
    """Soft-encode ab maps over a set of bins.

    Args:
        bins (Tensor): Bin centres, shape ``(Q, 2)``.
        num_neighbors (int): K, the number of nearest bins each value is
            spread over. The paper says 5, the released training code used
            10. Defaults to 5.
        sigma (float): Standard deviation of the Gaussian kernel, in Lab
            units. Defaults to 5.0.

    The bins and their candidate table are non-persistent buffers:
    ``.to(device)`` moves them and they stay out of state dicts. Calls run
    without autograd.

    Example:
        >>> enc = SoftEncoder(load_ab_bins(), num_neighbors=5, sigma=5.0)
        >>> idx, weight = enc(ab)          # ab: (N, 2, H, W)
        >>> idx.shape, weight.shape        # (N, 5, H, W) each
    """

    def __init__(self,
                 bins: Tensor,
                 num_neighbors: int = 5,
                 sigma: float = 5.0) -> None:
        super().__init__()
        if not isinstance(bins, Tensor):
            raise TypeError(f'bins must be a Tensor of shape (Q, 2), '
                            f'got {type(bins)!r}')
        if bins.dim() != 2 or bins.shape[1] != 2 or bins.shape[0] == 0:
            raise ValueError(f'bins must have shape (Q, 2), got '
                             f'{tuple(bins.shape)}')
        if not bool(torch.isfinite(bins).all()):
            raise ValueError('bins contain non-finite values')
        q = bins.shape[0]
        if (isinstance(num_neighbors, bool) or not isinstance(num_neighbors, int)
                or not 1 <= num_neighbors <= q):
            raise ValueError(f'num_neighbors must be an int in [1, {q}] (the '
                             f'number of bins), got {num_neighbors!r}')
        if not sigma > 0:
            raise ValueError(f'sigma must be > 0, got {sigma!r}')
        self.num_neighbors = num_neighbors
        self.sigma = float(sigma)
        self.register_buffer('bins', bins.detach().float().clone(), persistent=False)
        origin, self._cell, self._shape, cand = _candidate_table(
            bins.detach().double().cpu().numpy().tobytes(), num_neighbors)
        self._origin = origin.tolist()
        self.register_buffer('candidates', torch.tensor(cand), persistent=False)
        # Bin coordinates with an extra bin at infinity (the padding index).
        self.register_buffer(
            'padded_bins',
            torch.cat([self.bins, self.bins.new_full((1, 2), float('inf'))]),
            persistent=False)
        self._index_bits = q.bit_length()

    def extra_repr(self) -> str:
        return (f'num_bins={self.bins.shape[0]}, '
                f'num_neighbors={self.num_neighbors}, sigma={self.sigma}')

    def _top(self, a: Tensor, b: Tensor, cand: Tensor, k: int) -> Tensor:
        """The k nearest of the candidate bins ``cand`` (C, M) of points
        ``(a, b)``, each (C,): (C, k) int64, nearest first."""
        bins = self.padded_bins.to(a.dtype)
        flat = cand.reshape(-1)
        d2 = a[:, None] - bins[:, 0].index_select(0, flat).view(cand.shape)
        d2.mul_(d2)
        db = b[:, None] - bins[:, 1].index_select(0, flat).view(cand.shape)
        d2.add_(db.mul_(db))
        key = d2.float().view(torch.int32).long()
        key.bitwise_left_shift_(self._index_bits).bitwise_or_(cand)
        top = torch.topk(key, k, dim=1, largest=False, sorted=True).values
        return top.bitwise_and_((1 << self._index_bits) - 1)

    def _rank(self, a: Tensor, b: Tensor, k: int) -> Tensor:
        """The k (<= K) nearest bins of points ``(a, b)``, each (C,): (C, k)
        int64, nearest first (see the module docstring)."""
        rows, cols = self._shape
        u = torch.floor((a - self._origin[0]) / self._cell)
        v = torch.floor((b - self._origin[1]) / self._cell)
        inside = (u >= 0) & (u < rows) & (v >= 0) & (v < cols)
        cell = u.clamp(0, rows - 1).long() * cols + v.clamp(0, cols - 1).long()
        idx = self._top(a, b, self.candidates.index_select(0, cell), k)
        outside = (~inside).nonzero().squeeze(1)
        if len(outside):  # far from all bins: rank against all of them
            q = self.bins.shape[0]
            every = torch.arange(q, device=a.device).expand(len(outside), q)
            idx[outside] = self._top(a[outside], b[outside], every, k)
        return idx

    def _encode(self, a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
        """idx (C, K) and Gaussian weights (C, K) of points (a, b), (C,)."""
        k = self.num_neighbors
        idx = self._rank(a, b, k)
        bins = self.bins.double()
        flat = idx.view(-1)
        da = a.double()[:, None] - bins[:, 0].index_select(0, flat).view(-1, k)
        db = b.double()[:, None] - bins[:, 1].index_select(0, flat).view(-1, k)
        d2 = da * da + db * db
        weight = torch.exp((d2[:, :1] - d2) / (2.0 * self.sigma**2))
        weight = weight / weight.sum(dim=1, keepdim=True)
        return idx, weight.to(a.dtype)

    @torch.no_grad()
    def forward(self,
                ab: Tensor,
                bin_weight: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """Soft-encode an ab map.

        Args:
            ab (Tensor): ab values, shape ``(N, 2, H, W)``, finite.
            bin_weight (Tensor, optional): A weight per bin, shape ``(Q,)``
                (e.g. the class-rebalancing weights). When given, a third
                output holds the weight of every pixel's nearest bin.

        Returns:
            tuple[Tensor, ...]: ``idx`` (int64) and ``weight`` (dtype of
            ``ab``; float32 for half inputs), each ``(N, K, H, W)``: the K
            nearest bins of every pixel, nearest first, and their Gaussian
            weights, which sum to 1 over K. Both are views of ``(N, H, W,
            K)`` tensors. With ``bin_weight``, also ``bin_weight[idx[:, 0]]``,
            shape ``(N, H, W)``.
        """
        ab = _check_ab(ab)
        n, _, h, w = ab.shape
        k = self.num_neighbors
        if bin_weight is not None and bin_weight.shape != self.bins.shape[:1]:
            raise ValueError(f'bin_weight must have shape ({self.bins.shape[0]},) '
                             f'(one weight per bin), got {tuple(bin_weight.shape)}')
        a = ab[:, 0].reshape(-1)
        b = ab[:, 1].reshape(-1)
        # Pieces of at most _PIXELS pixels, and of GRAIN // K for the exp.
        idx, weight = in_pieces(self._encode, a, b, width=k, max_rows=_PIXELS)
        out = (idx.view(n, h, w, k).permute(0, 3, 1,
                                            2), weight.view(n, h, w,
                                                            k).permute(0, 3, 1, 2))
        if bin_weight is None:
            return out
        return out + (bin_weight.index_select(0, idx[:, 0]).view(n, h, w), )

    @torch.no_grad()
    def nearest(self, ab: Tensor) -> Tensor:
        """Index of the nearest bin of every pixel.

        Args:
            ab (Tensor): ab values, shape ``(N, 2, H, W)``, finite.

        Returns:
            Tensor: int64, shape ``(N, H, W)``.
        """
        ab = _check_ab(ab)
        n, _, h, w = ab.shape
        idx = in_pieces(
            lambda a, b: self._rank(a, b, 1),
            ab[:, 0].reshape(-1),
            ab[:, 1].reshape(-1),
            max_rows=_PIXELS)
        return idx.view(n, h, w)


def soft_encode(ab: Tensor,
                bins: Tensor,
                num_neighbors: int = 5,
                sigma: float = 5.0) -> Tuple[Tensor, Tensor]:
    """Functional form of :class:`SoftEncoder` (same arguments): ``idx`` and
    ``weight``, each ``(N, K, H, W)``."""
    enc = SoftEncoder(bins, num_neighbors=num_neighbors, sigma=sigma)
    return enc.to(ab.device)(ab)


def soft_encode_dense(ab: Tensor,
                      bins: Tensor,
                      num_neighbors: int = 5,
                      sigma: float = 5.0) -> Tensor:
    """Soft-encoded targets as a dense distribution over all bins (arguments
    as :func:`soft_encode`): shape ``(N, Q, H, W)``, zero except at the K
    nearest bins of each pixel, summing to 1 over ``Q``."""
    idx, weight = soft_encode(ab, bins, num_neighbors, sigma)
    n, _, h, w = idx.shape
    out = weight.new_zeros((n, bins.shape[0], h, w))
    return out.scatter_(1, idx, weight)


def nearest_bin(ab: Tensor, bins: Tensor) -> Tensor:
    """Index (int64, ``(N, H, W)``) of the nearest of the ``bins`` ``(Q, 2)``
    of every pixel of ``ab`` ``(N, 2, H, W)``; ties go to the lower index."""
    return SoftEncoder(bins, num_neighbors=1).to(ab.device).nearest(ab)
