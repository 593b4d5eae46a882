"""Soft-encoding of ab targets over the quantised bins.

Each ab value is spread over its ``K`` nearest bin centres with weights
``exp(-d^2 / (2 sigma^2))`` normalised to sum to one (Zhang et al., ECCV 2016,
Sec. 2.1: K = 5, sigma = 5; the released training code used K = 10).

Speed comes from the grid the bins lie on, and the result stays exact:

* Bins on a lattice ``origin + grid * (i, j)`` are indexed by a lookup table
  from lattice point to bin index (-1 where the lattice point has no bin).
* The K nearest points of the *infinite* lattice depend only on where a point
  falls inside its lattice cell. The cell is cut into ``S x S`` sub-cells
  (S = 256) and the K-set of every sub-cell is tabulated once. A set is
  provably constant over a sub-cell when, at all four corners, every member
  is closer than every non-member: the difference of two squared distances is
  affine in the position, so the corners decide for the whole square.
  Where a single K-th/(K+1)-th swap crosses a sub-cell (its (K-1)- and
  (K+1)-sets are constant), one affine test per point picks the set.
* If all K lattice points of a point's set carry bins, they are its K nearest
  bins (bins are a subset of the lattice). That holds for nearly every pixel,
  which then costs a few table look-ups and one ``exp``: no search at all.
  The weights follow from ``d_k^2 - d_0^2``, affine in the position inside
  the cell with tabulated coefficients.
* The remaining pixels (sub-cells left unresolved, about 0.2%, ranked
  exactly among a tabulated superset of candidates; gamut edges and points
  outside the lattice range, brute force against all ``Q`` bins) are solved
  separately.

Bins that do not lie on a ``grid`` lattice are always solved by brute force.

On CPU, for float32 input, a fused numba kernel walks the same tables in one
pass per pixel (``soft_encode_cpu.py``; ``COLORSSL_NUMBA=0`` turns it off).
"""
import functools
import math
import warnings
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from . import cpu_kernels, soft_encode_cpu
from .bins import AB_GRID

_SUBDIVISIONS = 256
# Margin (squared lattice units) on the corner test. Float32 rounding can put
# a point into a neighbouring sub-cell, about 1e-6 lattice units outside the
# square; a squared-distance difference moves by at most ~20 times that, far
# below this margin.
_CORNER_MARGIN = 1e-4
# Slack (lattice units) added to the half-diagonal of a sub-cell when
# collecting candidates, for the same reason.
_CANDIDATE_SLACK = 1e-4
# Elements per brute-force chunk (pixels x bins).
_BRUTE_CHUNK = 1 << 22


def _check_bins(bins: Tensor) -> None:
    if not isinstance(bins, Tensor):
        raise TypeError(f'bins must be a Tensor of shape (Q, 2), '
                        f'got {type(bins)!r}')
    if bins.dim() != 2 or bins.shape[1] != 2 or bins.shape[0] == 0:
        raise ValueError(f'bins must have shape (Q, 2), got '
                         f'{tuple(bins.shape)}')


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
    # A sum is much cheaper than isfinite().all() and is non-finite whenever
    # some value is (or, for absurdly large values, when it overflows). On
    # CPU numpy sums: torch's parallel sum would leave its OpenMP workers
    # spinning on the cores the encoding kernel's threads are about to use.
    if ab.device.type == 'cpu' and not ab.requires_grad:
        arr = ab.numpy()
        finite = bool(np.isfinite(arr.sum())) or bool(np.isfinite(arr).all())
    else:
        finite = (bool(torch.isfinite(ab.sum()))
                  or bool(torch.isfinite(ab).all()))
    if not finite:
        raise ValueError('ab contains non-finite values (nan or inf)')
    return ab


def _lattice_coords(bins: np.ndarray,
                    grid: float) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Return (origin (2,), integer coords (Q, 2)) if bins lie on the lattice
    ``origin + grid * Z^2``, else None."""
    origin = bins.min(axis=0)
    coords = (bins - origin) / grid
    rounded = np.round(coords)
    if np.abs(coords - rounded).max() > 1e-4:
        return None
    rounded = rounded.astype(np.int64)
    if len(np.unique(rounded, axis=0)) != len(rounded):
        return None
    return origin, rounded


def _exact_sets(order: np.ndarray, corner_d2: np.ndarray,
                k: int) -> np.ndarray:
    """Per sub-cell, whether the k nearest offsets at its centre are the k
    nearest everywhere in it: at every corner each member is closer than
    each non-member, by a margin. Differences of squared distances are
    affine in the position, so the corners decide for the whole square.

    Args:
        order: (S*S, n_off) offset indices sorted by distance from the
            sub-cell centres.
        corner_d2: (S+1, S+1, n_off) squared distances from the sub-cell
            corners to the offsets.
    """
    subdiv = corner_d2.shape[0] - 1
    if k == 0:
        return np.ones(subdiv * subdiv, dtype=bool)
    member = np.zeros(order.shape, dtype=bool)
    np.put_along_axis(member, order[:, :k], True, axis=1)
    member = member.reshape(subdiv, subdiv, -1)
    exact = np.ones((subdiv, subdiv), dtype=bool)
    for du in (0, 1):
        for dv in (0, 1):
            cd2 = corner_d2[du:du + subdiv, dv:dv + subdiv]
            worst_in = np.where(member, cd2, -np.inf).max(axis=-1)
            best_out = np.where(member, np.inf, cd2).min(axis=-1)
            exact &= worst_in < best_out - _CORNER_MARGIN
    return exact.reshape(-1)


@functools.lru_cache(maxsize=8)
def _subcell_tables(k: int, subdiv: int) -> Dict[str, np.ndarray]:
    """Tabulate the K nearest points of the unit lattice for each sub-cell.

    Lattice offsets are relative to the floor cell of a point, whose
    fractional position ``r`` lies in ``[0, 1)^2``; sub-cell ``(i, j)`` is
    ``[i/S, (i+1)/S) x [j/S, (j+1)/S)`` and has flat id ``i * S + j``.

    A sub-cell is resolved by the tables when either its K-set is exact
    (constant over the sub-cell), or its (K-1)-set ``C`` and (K+1)-set
    ``C + {p, q}`` both are: then the K-set is ``C + {p}`` where
    ``|r - p|^2 < |r - q|^2`` and ``C + {q}`` elsewhere, an affine test.

    Returns a dict with
        ``window``: W, every offset used lies in ``[-W, W + 1]`` per axis;
        ``sets``: (n_sets, K, 2) int, the distinct K-sets, slot 0 holding the
            nearest lattice point (constant over a sub-cell: S is even so
            no sub-cell straddles a nearest-point boundary), then sorted;
        ``sub_sets``: (S*S, 2) int, the two candidate sets A, B of each
            sub-cell (equal when exact; -1 when unresolved);
        ``sub_coef``: (S*S, 3) float, (alpha, beta, gamma): the sub-cell
            takes set A where ``alpha + beta * ru + gamma * rv < 0``;
        ``cand_row``: (S*S,) int, row of ``cand`` of each unresolved
            sub-cell, -1 for resolved ones;
        ``cand``: (n_unresolved, M, 2) int offsets of every lattice point
            that can be among the K nearest somewhere in the sub-cell (a
            point's K-th distance moves by at most its displacement), closest
            first, padded; ``cand_valid``: (n_unresolved, M) bool marks the
            non-padding entries.
    """
    centres1d = (np.arange(subdiv) + 0.5) / subdiv
    centres = np.stack(np.meshgrid(centres1d, centres1d, indexing='ij'),
                       axis=-1).reshape(-1, 2)
    half_diag = math.sqrt(2.0) / (2 * subdiv) + _CANDIDATE_SLACK
    window = max(1, math.ceil(math.sqrt((k + 1) / math.pi)))
    while True:
        axis = np.arange(-window, window + 2)
        offsets = np.stack(np.meshgrid(axis, axis, indexing='ij'),
                           axis=-1).reshape(-1, 2)
        d2 = ((centres[:, None, :] - offsets[None]) ** 2).sum(-1)
        d_sorted = np.sqrt(np.sort(d2, axis=1)[:, :k + 1])
        # Offsets outside the window are >= window + 1 away from the cell.
        if (d_sorted + 2 * half_diag).max() < window + 1:
            break
        window += 1
    corners1d = np.arange(subdiv + 1) / subdiv
    corner_d2 = ((corners1d[:, None, None] - offsets[None, None, :, 0]) ** 2 +
                 (corners1d[None, :, None] - offsets[None, None, :, 1]) ** 2)
    order = np.argsort(d2, axis=1, kind='stable')
    exact = _exact_sets(order, corner_d2, k)
    two_way = (~exact & _exact_sets(order, corner_d2, k - 1) &
               _exact_sets(order, corner_d2, k + 1))
    num_off = len(offsets)

    def canonical(members: np.ndarray, near: np.ndarray) -> np.ndarray:
        """Rows [nearest, other members ascending] of offset indices."""
        rest = np.where(members == near[:, None], num_off, members)
        rest = np.sort(rest, axis=1)[:, :k - 1]
        return np.concatenate([near[:, None], rest], axis=1)

    # Set A: the K-set at the centre. Set B (two-way sub-cells): the
    # (K-1)-set plus the (K+1)-th point instead of the K-th.
    set_a = canonical(order[:, :k], order[:, 0])
    members_b = np.concatenate([order[:, :k - 1], order[:, k:k + 1]], axis=1)
    set_b = canonical(members_b, order[:, 0] if k > 1 else order[:, 1])
    resolved = exact | two_way
    set_b = np.where(two_way[:, None], set_b, set_a)
    rows = np.concatenate([set_a[resolved], set_b[resolved]])
    if num_off ** k < 2 ** 62:
        # Pack each row into one integer: much faster than unique(axis=0).
        packed = np.zeros(len(rows), dtype=np.int64)
        for col in range(k):
            packed = packed * num_off + rows[:, col]
        _, first, inverse = np.unique(packed, return_index=True,
                                      return_inverse=True)
        keys = rows[first]
    else:
        keys, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    num_resolved = int(resolved.sum())
    sub_sets = np.full((len(centres), 2), -1, dtype=np.int64)
    sub_sets[resolved, 0] = inverse[:num_resolved]
    sub_sets[resolved, 1] = inverse[num_resolved:]
    # Two-way test: take A where |r - p|^2 - |r - q|^2 < 0 (affine in r).
    op = offsets[order[:, k - 1]].astype(np.float64)
    oq = offsets[order[:, k]].astype(np.float64)
    sub_coef = np.stack([(op ** 2).sum(1) - (oq ** 2).sum(1),
                         -2.0 * (op[:, 0] - oq[:, 0]),
                         -2.0 * (op[:, 1] - oq[:, 1])], axis=1)
    sub_coef[~two_way] = (-1.0, 0.0, 0.0)
    sub_coef[~resolved] = 0.0

    # Candidates for unresolved sub-cells, compactly: cand_row maps a
    # sub-cell to its row of ``cand`` (-1 when resolved).
    unresolved = np.nonzero(~resolved)[0]
    cand_row = np.full(len(centres), -1, dtype=np.int64)
    cand_row[unresolved] = np.arange(len(unresolved))
    d2u = d2[unresolved]
    kth = np.sqrt(np.take_along_axis(d2u, order[unresolved, k - 1:k],
                                     axis=1))
    cand_mask = np.sqrt(d2u) <= kth + 2 * half_diag
    num_cand = cand_mask.sum(axis=1)
    m = max(int(num_cand.max()) if len(unresolved) else 0, k)
    cand = offsets[np.argsort(np.where(cand_mask, d2u, np.inf), axis=1,
                              kind='stable')[:, :m]]
    cand_valid = np.arange(m)[None, :] < num_cand[:, None]
    return dict(window=window, sets=offsets[keys], sub_sets=sub_sets,
                sub_coef=sub_coef, cand_row=cand_row, cand=cand,
                cand_valid=cand_valid)


def _brute_force(a: Tensor, b: Tensor, bins: Tensor, k: int) -> Tensor:
    """Indices (n, k) of the k nearest bins of points (a, b), each (n,),
    against bins (Q, 2), nearest first."""
    q = bins.shape[0]
    bins = bins.to(a.dtype)
    chunk = max(1, _BRUTE_CHUNK // q)
    out = [a.new_empty((0, k), dtype=torch.int64)]
    for start in range(0, a.shape[0], chunk):
        ca = a[start:start + chunk, None]
        cb = b[start:start + chunk, None]
        d2 = (ca - bins[None, :, 0]) ** 2 + (cb - bins[None, :, 1]) ** 2
        out.append(torch.topk(d2, k, dim=1, largest=False, sorted=True)[1])
    return torch.cat(out)


class SoftEncoder(nn.Module):
    """Soft-encode ab maps over a set of bins.

    Args:
        bins (Tensor): Bin centres, shape ``(Q, 2)``.
        num_neighbors (int): K, the number of nearest bins each value is
            spread over. The paper says 5, the released training code used
            10. Defaults to 5.
        sigma (float): Standard deviation of the Gaussian kernel, in Lab
            units. Defaults to 5.0.
        grid (float): Spacing of the lattice the bins are expected on; bins
            off such a lattice are handled by brute force. Defaults to
            :data:`AB_GRID`.

    The lookup tables are non-persistent buffers: ``.to(device)`` moves them
    and they stay out of state dicts. Calls run without autograd.

    Example:
        >>> enc = SoftEncoder(load_ab_bins(), num_neighbors=5, sigma=5.0)
        >>> idx, weight = enc(ab)          # ab: (N, 2, H, W)
        >>> idx.shape, weight.shape        # (N, 5, H, W) each
    """

    def __init__(self,
                 bins: Tensor,
                 num_neighbors: int = 5,
                 sigma: float = 5.0,
                 grid: float = AB_GRID) -> None:
        super().__init__()
        _check_bins(bins)
        q = bins.shape[0]
        if (isinstance(num_neighbors, bool)
                or not isinstance(num_neighbors, int)
                or not 1 <= num_neighbors <= q):
            raise ValueError(f'num_neighbors must be an int in [1, {q}] (the '
                             f'number of bins), got {num_neighbors!r}')
        if not sigma > 0:
            raise ValueError(f'sigma must be > 0, got {sigma!r}')
        if not grid > 0:
            raise ValueError(f'grid must be > 0, got {grid!r}')
        self.num_neighbors = num_neighbors
        self.sigma = float(sigma)
        self.grid = float(grid)
        bins_np = bins.detach().cpu().double().numpy()
        if not np.isfinite(bins_np).all():
            raise ValueError('bins contain non-finite values')
        self.register_buffer('bins', bins.detach().float().clone(),
                             persistent=False)
        # Tables of the fused CPU kernel (soft_encode_cpu.py), if it applies,
        # and whether each compiled variant agreed with the torch path.
        self._kernel = None
        self._kernel_ok: Dict[Tuple[str, bool], bool] = {}
        lattice = _lattice_coords(bins_np, self.grid)
        self.on_lattice = lattice is not None
        if self.on_lattice:
            self._build_tables(*lattice)

    def _build_tables(self, origin: np.ndarray, coords: np.ndarray) -> None:
        k = self.num_neighbors
        q = len(coords)
        t = _subcell_tables(k, _SUBDIVISIONS)
        window = t['window']
        # Lookup table lattice point -> bin (-1: none), padded so that a
        # clamped (out-of-range) cell sees only -1 in its window [-W, W+1].
        pad = 2 * window + 2
        size = coords.max(axis=0) + 1
        shape = (int(size[0]) + 2 * pad, int(size[1]) + 2 * pad)
        lut = np.full(shape, -1, dtype=np.int64)
        lut[coords[:, 0] + pad, coords[:, 1] + pad] = np.arange(q)
        stride = shape[1]
        self._origin = (float(origin[0]), float(origin[1]))
        self._size = (int(size[0]), int(size[1]))
        self._pad = pad
        # Range of floor cells (lattice units); outside it cells are clamped.
        self._cell_lo = (-pad + window, -pad + window)
        self._cell_hi = (int(size[0]) - 1 + pad - window - 1,
                         int(size[1]) - 1 + pad - window - 1)
        self._stride = stride

        # Per set: log-weight coefficients of each slot relative to slot 0
        # and the lookup-table offsets of its slots; plus a last all-zero set
        # for unresolved sub-cells (always marked invalid below).
        sets = t['sets']  # (n_sets, K, 2) int
        n_sets = len(sets)
        scale = self.grid ** 2 / self.sigma ** 2
        sets_f = sets.astype(np.float64)
        rel = sets_f - sets_f[:, :1]
        const = -0.5 * scale * ((sets_f ** 2).sum(-1) -
                                (sets_f[:, :1] ** 2).sum(-1))
        flat_off = sets[..., 0] * stride + sets[..., 1]

        def slot_major(x):  # (n_sets, K) -> (K, n_sets + 1)
            x = np.concatenate([x, np.zeros((1, k), dtype=x.dtype)])
            return x.T

        # cell_bins[cell, set]: the K bins of a set around a floor cell
        # (-1 where a lattice point has no bin); valid: none is missing.
        lut_flat = lut.reshape(-1)
        pos = (np.arange(lut_flat.size)[:, None, None] +
               flat_off[None, :, :])  # (cells, n_sets, K)
        inside = (pos >= 0) & (pos < lut_flat.size)
        cell_bins = np.where(inside,
                             lut_flat[np.clip(pos, 0, lut_flat.size - 1)], -1)
        cell_bins = np.concatenate(
            [cell_bins, np.full((lut_flat.size, 1, k), -1)], axis=1)
        valid = (cell_bins >= 0).all(axis=-1)
        sub_sets = t['sub_sets'].copy()
        sub_sets[sub_sets < 0] = n_sets
        self._num_sets = n_sets + 1

        def buf(name, arr, dtype):
            self.register_buffer(name, torch.from_numpy(
                np.ascontiguousarray(arr)).to(dtype), persistent=False)

        buf('lut', lut_flat, torch.int64)
        buf('cell_bins', cell_bins.reshape(-1, k), torch.int64)
        # Slot 0 is the reference of the log weights: only slots 1..K-1.
        buf('set_const', slot_major(const)[1:], torch.float32)
        buf('set_u', slot_major(scale * rel[..., 0])[1:], torch.float32)
        buf('set_v', slot_major(scale * rel[..., 1])[1:], torch.float32)
        buf('set_valid', valid.reshape(-1), torch.bool)
        # One int32 code per sub-cell, ``set_a | two_way_row << set_bits``,
        # so that a point needs one look-up in the large table; row 0 of the
        # small two-way tables always selects set A.
        two_way = np.nonzero(sub_sets[:, 0] != sub_sets[:, 1])[0]
        rows = np.zeros(len(sub_sets), dtype=np.int64)
        rows[two_way] = np.arange(1, len(two_way) + 1)
        self._set_bits = int(n_sets + 1).bit_length()
        if self._set_bits + int(len(two_way) + 1).bit_length() > 31:
            raise ValueError(f'num_neighbors={k} needs lookup tables too '
                             'large for int32 codes')
        buf('sub_code', sub_sets[:, 0] | (rows << self._set_bits), torch.int32)
        coef = np.concatenate([[(-1.0, 0.0, 0.0)], t['sub_coef'][two_way]])
        for i, name in enumerate(('tw_alpha', 'tw_beta', 'tw_gamma')):
            buf(name, coef[:, i], torch.float32)
        buf('tw_set_b', np.concatenate([[0], sub_sets[two_way, 1]]),
            torch.int32)
        # Candidates of unresolved sub-cells; one all-padding row keeps the
        # tables non-empty (row -1 is clamped to 0 and then ignored).
        cand = t['cand'][..., 0] * stride + t['cand'][..., 1]
        cand_pad = ~t['cand_valid']
        if len(cand) == 0:
            cand = np.zeros((1, cand.shape[1]), dtype=np.int64)
            cand_pad = np.ones((1, cand.shape[1]), dtype=bool)
        buf('cand_row', t['cand_row'], torch.int32)
        buf('cand', cand, torch.int32)
        buf('cand_pad', cand_pad, torch.bool)
        self._build_kernel_tables(scale)

    def _build_kernel_tables(self, scale: float) -> None:
        """numpy tables of the fused CPU kernel (``soft_encode_cpu.py``),
        from the buffers just built; ``self._kernel`` stays None where the
        kernel cannot serve them."""
        k = self.num_neighbors
        if k < 2:
            return
        tables = soft_encode_cpu.build_tables(
            self.set_const.numpy(), self.set_u.numpy(), self.set_v.numpy(),
            scale)
        if tables is None:
            return
        q = self.bins.shape[0]
        bins_dtype = np.int16 if q < 2 ** 15 else np.int32
        tables.update(
            geo=np.array([*self._origin, 1.0 / self.grid, self._cell_lo[0],
                          self._cell_hi[0], self._cell_lo[1],
                          self._cell_hi[1]], dtype=np.float64),
            isub=np.array([_SUBDIVISIONS, self._set_bits, self._stride,
                           self._pad * self._stride + self._pad,
                           self._num_sets],
                          dtype=np.int64),
            scale=float(scale),
            sub_code=self.sub_code.numpy(),
            # One row (16 bytes) per two-way sub-cell: alpha, beta, gamma
            # of the test and set B (a small integer, exact in float32).
            two_way=np.stack([self.tw_alpha.numpy(), self.tw_beta.numpy(),
                              self.tw_gamma.numpy(),
                              self.tw_set_b.numpy().astype(np.float32)], 1),
            set_valid=self.set_valid.numpy(),
            cell_bins=self.cell_bins.numpy().astype(bins_dtype),
            bins=self.bins.numpy(), all_bins=np.arange(q, dtype=np.int64),
            lut=self.lut.numpy(), cand_row=self.cand_row.numpy(),
            cand=self.cand.numpy(), cand_pad=self.cand_pad.numpy())
        self._kernel = tables

    def extra_repr(self) -> str:
        return (f'num_bins={self.bins.shape[0]}, '
                f'num_neighbors={self.num_neighbors}, sigma={self.sigma}, '
                f'on_lattice={self.on_lattice}')

    # ------------------------------------------------------------------
    def _weights(self, a: Tensor, b: Tensor, idx: Tensor) -> Tensor:
        """Normalised Gaussian weights of points (n,) over their bins
        ``idx`` (n, K), nearest first. ``d_k^2 - d_0^2`` is evaluated as
        ``(c_k - c_0) . (c_k + c_0 - 2 x)``, which stays accurate far from
        the bins, where the squared distances themselves are huge."""
        bins = self.bins.to(a.dtype)
        ca = bins[idx, 0]
        cb = bins[idx, 1]
        excess = ((ca - ca[:, :1]) * (ca + ca[:, :1] - 2 * a[:, None]) +
                  (cb - cb[:, :1]) * (cb + cb[:, :1] - 2 * b[:, None]))
        w = torch.exp(excess / (-2.0 * self.sigma ** 2))
        return w / w.sum(1, keepdim=True)

    def _solve_points(self, a: Tensor, b: Tensor, sub: Optional[Tensor],
                      base: Optional[Tensor]) -> Tensor:
        """Exact K nearest bins of a few points (n,): the tabulated
        candidates of an unresolved sub-cell when they all carry bins, brute
        force otherwise. Returns ``idx`` (n, K) int64, nearest first."""
        k = self.num_neighbors
        if sub is None:
            return _brute_force(a, b, self.bins, k)
        n = a.shape[0]
        row = self.cand_row.index_select(0, sub)
        row_c = row.clamp(min=0)
        off = self.cand.index_select(0, row_c).add_(base[:, None])
        cand = self.lut.index_select(0, off.view(-1)).view(n, -1)  # (n, M)
        pad = self.cand_pad.index_select(0, row_c)
        # A resolved sub-cell here has a missing bin in its K-set.
        ok = ((cand >= 0) | pad).all(1) & (row >= 0)
        if bool(ok.all()):
            use, rest = None, None
        else:
            use = ok.nonzero().squeeze(1)
            rest = (~ok).nonzero().squeeze(1)
            cand, pad = cand.index_select(0, use), pad.index_select(0, use)
        bins = self.bins.to(a.dtype)
        cand.clamp_(min=0)
        au = a if use is None else a.index_select(0, use)
        bu = b if use is None else b.index_select(0, use)
        d2 = ((au[:, None] - bins[:, 0][cand]) ** 2 +
              (bu[:, None] - bins[:, 1][cand]) ** 2).masked_fill_(
                  pad, math.inf)
        order = torch.sort(d2, dim=1, stable=True)[1][:, :k]
        found = cand.gather(1, order)
        if use is None:
            return found
        idx = torch.empty((n, k), dtype=torch.int64, device=a.device)
        idx.index_copy_(0, use, found)
        if rest.numel() > 0:
            idx.index_copy_(
                0, rest,
                _brute_force(a.index_select(0, rest), b.index_select(0, rest),
                             self.bins, k))
        return idx

    def _locate(self, a: Tensor, b: Tensor) -> Tuple[Tensor, ...]:
        """Per point (P,): fractional position (ru, rv) in its floor cell,
        sub-cell id and lookup-table position of the (clamped) floor cell."""
        s = _SUBDIVISIONS
        inv_grid = 1.0 / self.grid
        u = (a - self._origin[0]) * inv_grid
        v = (b - self._origin[1]) * inv_grid
        fu = torch.floor(u)
        fv = torch.floor(v)
        ru = u.sub_(fu)
        rv = v.sub_(fv)
        # ru is in [0, 1] (1 only through rounding): clamp the sub-cell.
        si = (ru * s).to(torch.int32).clamp_(0, s - 1)
        sj = (rv * s).to(torch.int32).clamp_(0, s - 1)
        sub = si.mul_(s).add_(sj)
        cu = fu.clamp_(self._cell_lo[0], self._cell_hi[0]).to(torch.int32)
        cv = fv.clamp_(self._cell_lo[1], self._cell_hi[1]).to(torch.int32)
        base = cu.mul_(self._stride).add_(cv + (self._pad * self._stride +
                                                self._pad))
        return ru, rv, sub, base

    @torch.no_grad()
    def forward(self, ab: Tensor, bin_weight: Optional[Tensor] = None
                ) -> Tuple[Tensor, ...]:
        """Soft-encode an ab map.

        Args:
            ab (Tensor): ab values, shape ``(N, 2, H, W)``, finite.
            bin_weight (Tensor, optional): A weight per bin, shape ``(Q,)``
                (e.g. the class-rebalancing weights). When given, a third
                output holds the weight of every pixel's nearest bin.

        Returns:
            tuple[Tensor, ...]: ``idx`` (int64) and ``weight`` (dtype of
            ``ab``; float32 for half inputs), each ``(N, K, H, W)``: the K
            nearest bins of every pixel and their Gaussian weights, which sum
            to 1 over K. ``idx[:, 0]`` is the nearest bin; the order of the
            other K - 1 is unspecified. Both are permuted views of dense
            tensors, in the layouts in which they are computed fastest:
            ``(N, H, W, K)`` for both from the CPU kernel, ``(N, H, W, K)``
            and ``(K, N, H, W)`` from the torch path; call
            ``.contiguous()`` if the layout matters. With ``bin_weight``,
            also ``bin_weight[idx[:, 0]]``, shape ``(N, H, W)``.
        """
        ab = _check_ab(ab)
        n, _, h, w = ab.shape
        k = self.num_neighbors
        if bin_weight is not None and bin_weight.shape != (self.bins.shape[0],):
            raise ValueError(f'bin_weight must have shape ({self.bins.shape[0]},) '
                             f'(one weight per bin), got {tuple(bin_weight.shape)}')
        if (self._kernel is not None and ab.dtype == torch.float32
                and ab.device.type == 'cpu' and cpu_kernels.enabled()
                and (bin_weight is None or bin_weight.device.type == 'cpu')):
            variant = soft_encode_cpu.variant(ab, bin_weight)
            if self._kernel_ok.get(variant, True):
                out = soft_encode_cpu.soft_encode_cpu(ab, self, bin_weight)
                if variant not in self._kernel_ok:
                    agrees = self._agrees_with_torch_path(ab, out, bin_weight,
                                                          variant)
                    if agrees is not None:  # else: checked on a later input
                        self._kernel_ok[variant] = agrees
                if self._kernel_ok.get(variant, True):
                    # (N*H*W, K) each -> (N, K, H, W) views, (N*H*W,) ->
                    # (N, H, W).
                    return (out[0].view(n, h, w, k).permute(0, 3, 1, 2),
                            out[1].view(n, h, w, k).permute(0, 3, 1, 2),
                            *(x.view(n, h, w) for x in out[2:]))
        a = ab[:, 0].reshape(-1)
        b = ab[:, 1].reshape(-1)
        if self.on_lattice:
            idx, weight = self._encode_lattice(a, b)
        else:
            idx = self._solve_points(a, b, None, None)
            weight = self._weights(a, b, idx).t().contiguous()
        # (N*H*W, K) and (K, N*H*W) -> (N, K, H, W) as views: no copy.
        out = (idx.view(n, h, w, k).permute(0, 3, 1, 2),
               weight.view(k, n, h, w).transpose(0, 1))
        if bin_weight is None:
            return out
        return out + (bin_weight.index_select(0, idx[:, 0]).view(n, h, w),)

    def _agrees_with_torch_path(self, ab: Tensor, out: Tuple[Tensor, ...],
                                bin_weight: Optional[Tensor],
                                variant: Tuple[str, bool],
                                num_points: int = 4096) -> Optional[bool]:
        """Check a compiled kernel variant against the torch path, on up to
        ``num_points`` points spread over its input; None when the input has
        no point to compare (empty, or all far outside the bins).

        The kernel is compiled with LLVM's SLP vectorizer, which numba leaves
        off by default because some LLVM versions miscompiled with it; a
        variant that disagrees here is not used again by this encoder (with
        a warning). Points with |a| or |b| >= 200 are left out: there the
        kernel ranks in float64 and the torch path in float32.
        """
        total = out[0].shape[0]
        sel = torch.linspace(0, total - 1, min(total, num_points)).long()
        a = ab[:, 0].reshape(-1).index_select(0, sel)
        b = ab[:, 1].reshape(-1).index_select(0, sel)
        ref_idx, ref_weight = self._encode_lattice(a, b)
        idx = out[0].index_select(0, sel)
        weight = out[1].index_select(0, sel)
        near = torch.maximum(a.abs(), b.abs()) < 200
        if not bool(near.any()):
            return None
        pts = torch.stack([a, b], 1)[near].double()
        bins = self.bins.double()

        def by_distance(i, wt):  # (M, K) squared distances, weights, sorted
            d2 = ((bins[i[near]] - pts[:, None]) ** 2).sum(-1)
            d2, order = d2.sort(1)
            return d2, wt[near].double().gather(1, order)

        # Compared as distances, not indices: at exact ties (e.g. points on
        # the lattice) the two paths may pick different, equally near bins.
        d2, w = by_distance(idx, weight)
        ref_d2, ref_w = by_distance(ref_idx, ref_weight.t())
        ok = (torch.allclose(d2, ref_d2, rtol=1e-6, atol=1e-3)
              and torch.allclose(w, ref_w, rtol=0, atol=1e-5))
        if ok and len(out) > 2:
            ok = torch.equal(out[2].index_select(0, sel),
                             bin_weight.index_select(0, idx[:, 0]))
        if not ok:
            warnings.warn(
                f'SoftEncoder: the CPU kernel (variant {variant}) disagrees '
                'with the torch path on this machine (numba '
                f'{cpu_kernels.numba.__version__}); using the torch path '
                'instead (slower, same results). Please report it.')
        return ok

    def _encode_lattice(self, a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
        """Table-driven encoding of points (P,): ``idx`` (P, K) and
        ``weight`` (K, P)."""
        k = self.num_neighbors
        ru, rv, sub, base = self._locate(a, b)
        # Each point's K-set: set A or B of its sub-cell (the same set unless
        # a single K-th/(K+1)-th swap crosses the sub-cell).
        code = self.sub_code.index_select(0, sub)
        row = code >> self._set_bits
        test = torch.addcmul(
            torch.addcmul(self.tw_alpha.index_select(0, row),
                          self.tw_beta.index_select(0, row), ru),
            self.tw_gamma.index_select(0, row), rv)
        set_id = torch.where(test < 0, code & ((1 << self._set_bits) - 1),
                             self.tw_set_b.index_select(0, row))
        # Slot-major (K, P) layout: every elementwise op is contiguous and
        # each table gathers along its columns.
        weight = ru.new_empty((k, a.shape[0]))
        weight[0] = 1.0  # slot 0 is the reference of the log weights
        if k > 1:
            logit = self.set_const.index_select(1, set_id)
            if logit.dtype != ru.dtype:
                logit = logit.to(ru.dtype)
            logit.addcmul_(self.set_u.index_select(1, set_id), ru)
            logit.addcmul_(self.set_v.index_select(1, set_id), rv)
            torch.exp(logit, out=weight[1:])
            weight.div_(weight.sum(0, keepdim=True))
        # One row look-up gives all K bins: (P, K).
        cell_set = base.mul(self._num_sets).add_(set_id)
        idx = self.cell_bins.index_select(0, cell_set)
        valid = self.set_valid.index_select(0, cell_set)
        bad = (~valid).nonzero().squeeze(1)
        if bad.numel() > 0:
            a, b = a.index_select(0, bad), b.index_select(0, bad)
            fidx = self._solve_points(a, b, sub.index_select(0, bad),
                                      base.index_select(0, bad))
            idx.index_copy_(0, bad, fidx)
            weight.index_copy_(1, bad,
                               self._weights(a, b, fidx).t().to(weight.dtype))
        return idx, weight

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
        a = ab[:, 0].reshape(-1)
        b = ab[:, 1].reshape(-1)
        if not self.on_lattice:
            return _brute_force(a, b, self.bins, 1).view(n, h, w)
        inv_grid = 1.0 / self.grid
        # Rounding gives the nearest lattice point; if it carries a bin it is
        # the nearest bin. Clamping keeps far points inside the -1 padding.
        cu = torch.round((a - self._origin[0]) * inv_grid).clamp_(
            -self._pad, self._size[0] - 1 + self._pad)
        cv = torch.round((b - self._origin[1]) * inv_grid).clamp_(
            -self._pad, self._size[1] - 1 + self._pad)
        flat = (cu.to(torch.int64) + self._pad) * self._stride + (
            cv.to(torch.int64) + self._pad)
        idx = self.lut.index_select(0, flat)
        bad = (idx < 0).nonzero().squeeze(1)
        if bad.numel() > 0:
            idx[bad] = _brute_force(a[bad], b[bad], self.bins, 1)[:, 0]
        return idx.view(n, h, w)


def soft_encode(ab: Tensor,
                bins: Tensor,
                num_neighbors: int = 5,
                sigma: float = 5.0) -> Tuple[Tensor, Tensor]:
    """Functional form of :class:`SoftEncoder`. It builds the encoder's
    lookup tables on every call; build a :class:`SoftEncoder` once for
    repeated use.

    Args:
        ab (Tensor): ab values, shape ``(N, 2, H, W)``.
        bins (Tensor): Bin centres, shape ``(Q, 2)``.
        num_neighbors (int): K. Defaults to 5.
        sigma (float): Gaussian standard deviation. Defaults to 5.0.

    Returns:
        tuple[Tensor, Tensor]: ``idx`` (int64) and ``weight``, each
        ``(N, K, H, W)``; see :meth:`SoftEncoder.forward`.
    """
    enc = SoftEncoder(bins, num_neighbors=num_neighbors, sigma=sigma)
    return enc.to(ab.device)(ab)


def soft_encode_dense(ab: Tensor,
                      bins: Tensor,
                      num_neighbors: int = 5,
                      sigma: float = 5.0) -> Tensor:
    """Soft-encoded targets as a dense distribution over all bins.

    Args:
        ab (Tensor): ab values, shape ``(N, 2, H, W)``.
        bins (Tensor): Bin centres, shape ``(Q, 2)``.
        num_neighbors (int): K. Defaults to 5.
        sigma (float): Gaussian standard deviation. Defaults to 5.0.

    Returns:
        Tensor: Shape ``(N, Q, H, W)``, zero except at the K nearest bins of
        each pixel, summing to 1 over ``Q``.
    """
    idx, weight = soft_encode(ab, bins, num_neighbors, sigma)
    n, _, h, w = ab.shape
    out = weight.new_zeros((n, bins.shape[0], h, w))
    return out.scatter_(1, idx, weight)


def nearest_bin(ab: Tensor, bins: Tensor) -> Tensor:
    """Index of the nearest bin of every pixel.

    Args:
        ab (Tensor): ab values, shape ``(N, 2, H, W)``.
        bins (Tensor): Bin centres, shape ``(Q, 2)``.

    Returns:
        Tensor: int64, shape ``(N, H, W)``.
    """
    return SoftEncoder(bins, num_neighbors=1).to(ab.device).nearest(ab)
