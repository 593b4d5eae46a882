"""Soft-encoding of ab targets over the quantised bins.

Each ab value is spread over its ``K`` nearest bin centres with weights
``exp(-d^2 / (2 sigma^2))`` normalised to sum to one (Zhang et al., ECCV 2016,
Sec. 2.1: K = 5, sigma = 5; the released training code used K = 10).

Speed comes from the grid the bins lie on, and the result stays exact:

* Bins on a lattice ``origin + grid * (i, j)`` are indexed by a lookup table
  from lattice point to bin index (-1 where the lattice point has no bin).
* The K nearest points of the *infinite* lattice depend only on where a point
  falls inside its lattice cell. The cell is cut into ``S x S`` sub-cells and
  for every sub-cell the set of K nearest lattice points is tabulated once.
  The set is provably constant over a sub-cell when, at all four corners,
  every member is closer than every non-member (the difference of two squared
  distances is affine, so checking the corners covers the whole square).
* If all K tabulated lattice points carry bins they are the K nearest bins
  (bins are a subset of the lattice). This holds for nearly every pixel, which
  then costs a few table look-ups and one ``exp``: no distance search at all.
* Pixels in the few sub-cells crossed by a boundary of the K-set take a
  tabulated superset of candidates (every lattice point that can be among the
  K nearest anywhere in the sub-cell) and rank them exactly.
* Pixels whose candidates miss a bin (gamut edge) or that lie outside the
  lattice range are solved by brute force against all ``Q`` bins.

Bins that do not lie on a ``grid`` lattice are always solved by brute force.
"""
import functools
import math
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from .bins import AB_GRID

_SUBDIVISIONS = 128
# Margin (squared lattice units) on the corner test: covers the float32
# rounding of a point's sub-cell assignment (see the module docstring).
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
    if not bool(torch.isfinite(ab).all()):
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


def _exact_sets(d2_centre: np.ndarray, d2_corners, k: int) -> np.ndarray:
    """Per sub-cell, whether the k nearest offsets at the centre are the k
    nearest everywhere in the sub-cell: at every corner each member is closer
    than each non-member (by a margin). Squared-distance differences are
    affine in the position, so the corners decide for the whole square."""
    if k == 0:
        return np.ones(len(d2_centre), dtype=bool)
    order = np.argsort(d2_centre, axis=1, kind='stable')
    member = np.zeros(d2_centre.shape, dtype=bool)
    np.put_along_axis(member, order[:, :k], True, axis=1)
    exact = np.ones(len(d2_centre), dtype=bool)
    for cd2 in d2_corners:
        worst_in = np.where(member, cd2, -np.inf).max(axis=1)
        best_out = np.where(member, np.inf, cd2).min(axis=1)
        exact &= worst_in < best_out - _CORNER_MARGIN
    return exact


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
        ``cand``: (S*S, M, 2) int offsets of every lattice point that can be
            among the K nearest somewhere in the sub-cell (a point's K-th
            distance moves by at most its displacement), closest first,
            padded; ``cand_valid``: (S*S, M) bool marks the non-padding.
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
    d2_corners = [((centres + np.array([du, dv]) / subdiv)[:, None, :] -
                   offsets[None]) ** 2 for du in (-0.5, 0.5)
                  for dv in (-0.5, 0.5)]
    d2_corners = [c.sum(-1) for c in d2_corners]
    exact = _exact_sets(d2, d2_corners, k)
    two_way = (~exact & _exact_sets(d2, d2_corners, k - 1) &
               _exact_sets(d2, d2_corners, k + 1))
    order = np.argsort(d2, axis=1, kind='stable')
    nearest = order[:, 0]

    set_ids = {}
    sets = []

    def set_id(members) -> int:
        # members: offset indices including ``near``; canonical order.
        rest = tuple(sorted(int(m) for m in members if m != near))
        key = (int(near), ) + rest
        if key not in set_ids:
            set_ids[key] = len(sets)
            sets.append(offsets[list(key)])
        return set_ids[key]

    num_sub = len(centres)
    sub_sets = np.full((num_sub, 2), -1, dtype=np.int64)
    sub_coef = np.zeros((num_sub, 3), dtype=np.float64)
    for i in range(num_sub):
        near = nearest[i]
        if exact[i]:
            sid = set_id(order[i, :k])
            sub_sets[i] = sid
            sub_coef[i] = (-1.0, 0.0, 0.0)
        elif two_way[i]:
            common = list(order[i, :k - 1])
            p, q = order[i, k - 1], order[i, k]
            if k == 1:
                # The nearest point is p or q: store each set with its own
                # nearest in slot 0.
                near = p
                sub_sets[i, 0] = set_id([p])
                near = q
                sub_sets[i, 1] = set_id([q])
            else:
                sub_sets[i, 0] = set_id(common + [p])
                sub_sets[i, 1] = set_id(common + [q])
            op, oq = offsets[p].astype(np.float64), offsets[q].astype(
                np.float64)
            sub_coef[i] = ((op ** 2).sum() - (oq ** 2).sum(),
                           -2.0 * (op[0] - oq[0]), -2.0 * (op[1] - oq[1]))
    kth = np.sqrt(np.take_along_axis(d2, order[:, k - 1:k], axis=1))
    cand_mask = np.sqrt(d2) <= kth + 2 * half_diag
    num_cand = cand_mask.sum(axis=1)
    m = int(num_cand.max())
    key = np.where(cand_mask, d2, np.inf)
    cand = offsets[np.argsort(key, axis=1, kind='stable')[:, :m]]
    cand_valid = np.arange(m)[None, :] < num_cand[:, None]
    return dict(window=window, sets=np.stack(sets), sub_sets=sub_sets,
                sub_coef=sub_coef, cand=cand, cand_valid=cand_valid)


@functools.lru_cache(maxsize=8)
def _torch_tables(k: int, subdiv: int, stride: int, scale: float,
                  sentinel: int) -> Dict[str, Tensor]:
    """Torch form of :func:`_subcell_tables` for a lookup table of row stride
    ``stride``; ``scale = grid^2 / sigma^2``. An extra last set stands for
    unresolved sub-cells: its offsets are ``sentinel``, which points at a
    block of -1 entries of the lookup table.

    ``set_const``, ``set_u``, ``set_v`` are (n_sets + 1) * K tables, set-major,
    such that the log weight of slot k relative to slot 0 at fractional
    position (ru, rv) is ``const + u * ru + v * rv``.
    """
    t = _subcell_tables(k, subdiv)
    sets = t['sets'].astype(np.float64)  # (n_sets, K, 2)
    rel = sets - sets[:, :1]
    const = -0.5 * scale * ((sets ** 2).sum(-1) - (sets[:, :1] ** 2).sum(-1))
    flat = t['sets'][..., 0] * stride + t['sets'][..., 1]
    pad_f = np.zeros((1, k))
    sub_sets = t['sub_sets'].copy()
    sub_sets[sub_sets < 0] = len(sets)
    return dict(
        set_const=torch.from_numpy(np.concatenate([const, pad_f]).reshape(
            -1)).float(),
        set_u=torch.from_numpy(np.concatenate([scale * rel[..., 0],
                                               pad_f]).reshape(-1)).float(),
        set_v=torch.from_numpy(np.concatenate([scale * rel[..., 1],
                                               pad_f]).reshape(-1)).float(),
        set_offset=torch.from_numpy(
            np.concatenate([flat, np.full((1, k), sentinel)]).reshape(-1)),
        sub_set_a=torch.from_numpy(sub_sets[:, 0] * k),
        sub_set_b=torch.from_numpy(sub_sets[:, 1] * k),
        sub_coef=torch.from_numpy(t['sub_coef']).float(),
        cand=torch.from_numpy(t['cand'][..., 0] * stride +
                              t['cand'][..., 1]),
        cand_valid=torch.from_numpy(t['cand_valid']),
    )


def _rank_sort(d2: Tensor, idx: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Sort each row of ``d2`` (n, M) ascending (ties by column) without a
    sort kernel, carry ``idx`` along, and keep the first ``k`` columns."""
    m = d2.shape[1]
    col = torch.arange(m, device=d2.device)
    less = d2[:, None, :] < d2[:, :, None]  # [i, j]: d_j < d_i
    tie = (d2[:, None, :] == d2[:, :, None]) & (col[None, :] < col[:, None])
    rank = (less | tie).sum(2)
    d2_sorted = torch.zeros_like(d2).scatter_(1, rank, d2)
    idx_sorted = torch.zeros_like(idx).scatter_(1, rank, idx)
    return d2_sorted[:, :k], idx_sorted[:, :k]


def _brute_force(a: Tensor, b: Tensor, bins: Tensor,
                 k: int) -> Tuple[Tensor, Tensor]:
    """K nearest bins of points (a, b), each (n,), against bins (Q, 2).
    Returns (squared distances, indices), each (n, k), ascending."""
    n = a.shape[0]
    q = bins.shape[0]
    bins = bins.to(a.dtype)
    chunk = max(1, _BRUTE_CHUNK // q)
    d2_out, idx_out = [], []
    for start in range(0, n, chunk):
        ca = a[start:start + chunk, None]
        cb = b[start:start + chunk, None]
        d2 = (ca - bins[None, :, 0]) ** 2 + (cb - bins[None, :, 1]) ** 2
        val, ind = torch.topk(d2, k, dim=1, largest=False, sorted=True)
        d2_out.append(val)
        idx_out.append(ind)
    if not d2_out:
        empty = a.new_zeros((0, k))
        return empty, empty.long()
    return torch.cat(d2_out), torch.cat(idx_out)


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
        if not isinstance(num_neighbors, int) or not 1 <= num_neighbors <= q:
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
        lattice = _lattice_coords(bins_np, self.grid)
        self.on_lattice = lattice is not None
        if not self.on_lattice:
            return
        origin, coords = lattice
        window = _subcell_tables(num_neighbors, _SUBDIVISIONS)['window']
        # Padding so that a clamped (out-of-range) cell sees only -1 entries
        # in its whole window [-W, W + 1].
        pad = 2 * window + 2
        size = coords.max(axis=0) + 1
        shape = (int(size[0]) + 2 * pad, int(size[1]) + 2 * pad)
        lut = np.full(shape, -1, dtype=np.int64)
        lut[coords[:, 0] + pad, coords[:, 1] + pad] = np.arange(q)
        lut = lut.reshape(-1)
        # A second block of -1 entries that the sentinel offset lands in.
        sentinel = lut.size
        lut = np.concatenate([lut, np.full(lut.size, -1, dtype=np.int64)])
        self._origin = (float(origin[0]), float(origin[1]))
        self._size = (int(size[0]), int(size[1]))
        self._pad = pad
        self._window = window
        self._stride = shape[1]
        self.register_buffer('lut', torch.from_numpy(lut), persistent=False)
        tables = _torch_tables(num_neighbors, _SUBDIVISIONS, self._stride,
                               self.grid ** 2 / self.sigma ** 2, sentinel)
        for name, value in tables.items():
            self.register_buffer(name, value, persistent=False)

    def extra_repr(self) -> str:
        return (f'num_bins={self.bins.shape[0]}, '
                f'num_neighbors={self.num_neighbors}, sigma={self.sigma}, '
                f'on_lattice={self.on_lattice}')

    # ------------------------------------------------------------------
    def _cells(self, ab: Tensor) -> Tuple[Tensor, ...]:
        """Per pixel: fractional position (ru, rv), sub-cell id and flat
        lookup-table position of the floor cell; each (N, H*W)."""
        n = ab.shape[0]
        inv_grid = 1.0 / self.grid
        u = (ab[:, 0].reshape(n, -1) - self._origin[0]) * inv_grid
        v = (ab[:, 1].reshape(n, -1) - self._origin[1]) * inv_grid
        fu = torch.floor(u)
        fv = torch.floor(v)
        ru = u - fu
        rv = v - fv
        s = _SUBDIVISIONS
        si = (ru * s).to(torch.int64).clamp_(0, s - 1)
        sj = (rv * s).to(torch.int64).clamp_(0, s - 1)
        sub = si * s + sj
        lo = -self._pad + self._window
        cu = fu.clamp(lo, self._size[0] - 1 + self._pad - self._window - 1)
        cv = fv.clamp(lo, self._size[1] - 1 + self._pad - self._window - 1)
        base = (cu.to(torch.int64) + self._pad) * self._stride + (
            cv.to(torch.int64) + self._pad)
        return ru, rv, sub, base

    def _weights_from_d2(self, d2: Tensor) -> Tensor:
        """Normalised Gaussian weights from ascending squared distances."""
        w = torch.exp((d2[:, :1] - d2) / (2.0 * self.sigma ** 2))
        return w / w.sum(1, keepdim=True)

    def _solve_points(self, a: Tensor, b: Tensor, sub: Optional[Tensor],
                      base: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """Exact K nearest bins and weights for a few points (n,): tabulated
        candidates where they all carry bins, brute force otherwise."""
        k = self.num_neighbors
        n = a.shape[0]
        idx = torch.empty((n, k), dtype=torch.int64, device=a.device)
        d2 = torch.empty((n, k), dtype=a.dtype, device=a.device)
        brute = torch.ones(n, dtype=torch.bool, device=a.device)
        bins = self.bins.to(a.dtype)
        if sub is not None and n > 0:
            cand = self.lut[base[:, None] + self.cand[sub]]  # (n, M)
            valid = self.cand_valid[sub]
            ok = ((cand >= 0) | ~valid).all(1)
            if ok.any():
                c = cand[ok].clamp_min(0)
                cd2 = ((a[ok, None] - bins[c, 0]) ** 2 +
                       (b[ok, None] - bins[c, 1]) ** 2)
                cd2 = cd2.masked_fill(~valid[ok], math.inf)
                cd2, c = _rank_sort(cd2, c, k)
                d2[ok] = cd2
                idx[ok] = c
                brute[ok] = False
        if brute.any():
            bd2, bidx = _brute_force(a[brute], b[brute], self.bins, k)
            d2[brute] = bd2
            idx[brute] = bidx
        return idx, self._weights_from_d2(d2)

    @torch.no_grad()
    def forward(self, ab: Tensor) -> Tuple[Tensor, Tensor]:
        """Soft-encode an ab map.

        Args:
            ab (Tensor): ab values, shape ``(N, 2, H, W)``, finite.

        Returns:
            tuple[Tensor, Tensor]: ``idx`` (int64) and ``weight`` (dtype of
            ``ab``, float32 for half inputs), each ``(N, K, H, W)``: the K
            nearest bins of every pixel and their Gaussian weights, which sum
            to 1 over K. ``idx[:, 0]`` is the nearest bin; the order of the
            other K - 1 is unspecified.
        """
        ab = _check_ab(ab)
        n, _, h, w = ab.shape
        k = self.num_neighbors
        if not self.on_lattice:
            a = ab[:, 0].reshape(-1)
            b = ab[:, 1].reshape(-1)
            idx, weight = self._solve_points(a, b, None, None)
            return (idx.view(n, h * w, k).transpose(1, 2).reshape(n, k, h, w),
                    weight.view(n, h * w, k).transpose(1, 2).reshape(
                        n, k, h, w))
        ru, rv, sub, base = self._cells(ab)
        hw = h * w
        coef = self.sub_coef.index_select(0, sub.view(-1)).view(n, hw, 3)
        test = torch.addcmul(
            torch.addcmul(coef[..., 0], coef[..., 1], ru), coef[..., 2], rv)
        set_start = torch.where(
            test < 0,
            self.sub_set_a.index_select(0, sub.view(-1)).view(n, hw),
            self.sub_set_b.index_select(0, sub.view(-1)).view(n, hw))
        slot = torch.arange(k, device=ab.device).view(1, k, 1)
        set_slot = (set_start.view(n, 1, hw) + slot).view(-1)  # (N*K*HW,)
        logit = torch.addcmul(
            self.set_const.index_select(0, set_slot).view(n, k, hw),
            self.set_u.index_select(0, set_slot).view(n, k, hw),
            ru.unsqueeze(1))
        logit = torch.addcmul(
            logit,
            self.set_v.index_select(0, set_slot).view(n, k, hw),
            rv.unsqueeze(1))
        weight = torch.exp_(logit)
        weight = weight.div_(weight.sum(1, keepdim=True))
        flat = (base.unsqueeze(1) + self.set_offset.index_select(
            0, set_slot).view(n, k, hw)).view(-1)
        idx = self.lut.index_select(0, flat).view(n, k, hw)
        bad = (idx < 0).any(1).view(-1).nonzero().squeeze(1)  # (n_bad,)
        if bad.numel() > 0:
            a = ab[:, 0].reshape(-1)[bad]
            b = ab[:, 1].reshape(-1)[bad]
            fidx, fweight = self._solve_points(a, b,
                                               sub.view(-1)[bad],
                                               base.view(-1)[bad])
            img = torch.div(bad, hw, rounding_mode='floor')
            pos = (img * (k * hw) + (bad - img * hw)).unsqueeze(1) + (
                torch.arange(k, device=ab.device) * hw)
            idx.view(-1)[pos.view(-1)] = fidx.view(-1)
            weight.view(-1)[pos.view(-1)] = fweight.to(weight.dtype).view(-1)
        return idx.view(n, k, h, w), weight.view(n, k, h, w)

    @torch.no_grad()
    def nearest(self, ab: Tensor) -> Tensor:
        """Index of the nearest bin of every pixel.

        Args:
            ab (Tensor): ab values, shape ``(N, 2, H, W)``.

        Returns:
            Tensor: int64, shape ``(N, H, W)``.
        """
        ab = _check_ab(ab)
        n, _, h, w = ab.shape
        a = ab[:, 0].reshape(-1)
        b = ab[:, 1].reshape(-1)
        if not self.on_lattice:
            return _brute_force(a, b, self.bins, 1)[1].view(n, h, w)
        inv_grid = 1.0 / self.grid
        lo = -self._pad
        cu = torch.round((a - self._origin[0]) * inv_grid).clamp_(
            lo, self._size[0] - 1 + self._pad)
        cv = torch.round((b - self._origin[1]) * inv_grid).clamp_(
            lo, self._size[1] - 1 + self._pad)
        flat = (cu.to(torch.int64) + self._pad) * self._stride + (
            cv.to(torch.int64) + self._pad)
        idx = self.lut.index_select(0, flat)
        bad = (idx < 0).nonzero().squeeze(1)
        if bad.numel() > 0:
            idx[bad] = _brute_force(a[bad], b[bad], self.bins, 1)[1][:, 0]
        return idx.view(n, h, w)


def soft_encode(ab: Tensor,
                bins: Tensor,
                num_neighbors: int = 5,
                sigma: float = 5.0) -> Tuple[Tensor, Tensor]:
    """Functional form of :class:`SoftEncoder`.

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
