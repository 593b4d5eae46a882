"""Fused CPU kernel (numba) for :class:`colorssl.color.SoftEncoder`.

The encoder's lattice tables (see ``encode.py``) answer each pixel with a few
look-ups: sub-cell -> K-set (with one affine test where two sets meet), floor
cell + set -> K bins. The torch path runs those look-ups as about thirty
vectorised passes over the batch; this kernel makes one pass per pixel and
computes the weights without calling ``exp`` per slot:

* With slot 0 the nearest lattice point ``c_0`` and ``r`` the position in the
  floor cell (lattice units), the log-weight of slot k relative to slot 0 is
  ``const_k + s (du_k r_u + dv_k r_v)``, ``s = grid^2 / sigma^2`` and
  ``(du_k, dv_k) = c_k - c_0`` small integers. So
  ``w_k / w_0 = exp(const_k) E_u^du_k E_v^dv_k`` with ``E = exp(s r)``: two
  exponentials per pixel, whatever K is.
* ``E_u = exp(s r_u)`` is a table value at ``r_u`` rounded down to 1/M
  times a third-order Taylor factor for the rest (``s / M <= 1/64``:
  relative truncation error below 2e-9); ``1 / E_u`` likewise, so no
  division and no cancellation: every power ``E^d`` is a product of
  positive factors.

Pixels the tables leave open are solved in the kernel as the torch path
solves them: ranked among their sub-cell's tabulated candidates (where
several lattice distances tie, e.g. around lattice points for K = 10: 3.7 %
of the benchmark's real pixels, 0.1 % for K = 5), or by brute force against
all bins where a candidate has no bin (gamut edges, far outside the bins).

The kernel serves float32 ab on CPU with the bins on a lattice and moderate
``s`` (see :func:`build_tables`); otherwise the torch path runs. It releases
the GIL and is split over ``torch.get_num_threads()`` threads.
"""
import functools
import math
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from . import cpu_kernels
from .cpu_kernels import numba

# Largest |du|, |dv| and exponent (s * d) the kernel takes; beyond them (a
# very large K or a tiny sigma) float32 powers of E would lose accuracy.
_MAX_OFFSET = 3
_MAX_EXPONENT = 40.0
# Taylor step of the exponential table: s / M <= 1 / 64.
_TAYLOR_STEP = 1.0 / 64.0


def build_tables(set_const: np.ndarray, set_u: np.ndarray,
                 set_v: np.ndarray, scale: float) -> Optional[Dict]:
    """The kernel's per-set tables, or None when it cannot serve them.

    Args:
        set_const, set_u, set_v: (K-1, n_sets) float, the encoder's affine
            log-weight coefficients of slots 1..K-1 (``set_u = s * du``).
        scale: s = grid^2 / sigma^2.

    Returns:
        dict with ``ratio`` (n_sets, K-1) float32 = exp(const), ``du``/``dv``
        (n_sets, K-1) float32 the slots' lattice offsets, ``bits``
        (n_sets, K-1, 6) float32 0/1 flags (du > 0, |du| & 1, |du| & 2,
        then the same for dv), ``depth`` D = max |du|, |dv|,
        ``exp_steps`` M and the (M,) tables
        ``exp_pos`` = exp(s i / M) and ``exp_neg`` = exp(-s i / M).
    """
    du = np.rint(set_u / scale)
    dv = np.rint(set_v / scale)
    if (np.abs(du * scale - set_u).max(initial=0) > 1e-3
            or np.abs(dv * scale - set_v).max(initial=0) > 1e-3):
        return None
    depth = int(max(np.abs(du).max(initial=0), np.abs(dv).max(initial=0), 1))
    if (depth > _MAX_OFFSET or scale * depth > _MAX_EXPONENT
            or np.abs(set_const).max(initial=0) > _MAX_EXPONENT):
        return None
    steps = max(256, int(math.ceil(scale / _TAYLOR_STEP)))
    if steps > 1 << 16:
        return None
    grid = np.arange(steps, dtype=np.float64) * (scale / steps)

    def set_major(x, dtype):
        return np.ascontiguousarray(np.moveaxis(x, 0, 1)).astype(dtype)

    def bit_flags(d):  # (K-1, n_sets) -> (d > 0, |d| & 1, |d| & 2)
        m = np.abs(d).astype(np.int64)
        return [d > 0, (m & 1) > 0, (m & 2) > 0]

    return dict(
        ratio=set_major(np.exp(set_const.astype(np.float64)), np.float32),
        du=set_major(du, np.float32), dv=set_major(dv, np.float32),
        bits=set_major(np.stack(bit_flags(du) + bit_flags(dv), -1),
                       np.float32),
        depth=depth, exp_steps=steps,
        exp_pos=np.exp(grid).astype(np.float32),
        exp_neg=np.exp(-grid).astype(np.float32))


if numba is not None:

    @cpu_kernels.jit_fast
    def _exp_pair(r, scale, steps, exp_pos, exp_neg):
        """(exp(scale r), exp(-scale r)) for r in [0, 1], float32."""
        i = np.uint32(min(max(np.int32(r * np.float32(steps)), 0),
                          steps - 1))
        y = np.float32(scale) * (r - np.float32(i) / np.float32(steps))
        one = np.float32(1.0)
        half = np.float32(0.5)
        sixth = np.float32(1.0 / 6.0)
        pos = exp_pos[i] * (one + y * (one + y * (half + y * sixth)))
        neg = exp_neg[i] * (one - y * (one - y * (half - y * sixth)))
        return pos, neg

    @cpu_kernels.jit_fast
    def _rank_and_write(a, b, bins, cands, num, sigma, best_d, best_i,
                        idx_out, w_out, p):
        """The K nearest of the bins ``cands[:num]`` to point (a, b) (ties:
        earlier candidate first) and their weights, written to
        ``idx_out[p]`` and ``w_out[:, p]``. ``best_d``, ``best_i``: (K,)
        scratch."""
        k = idx_out.shape[1]
        best_d[:] = np.inf
        a64 = np.float64(a)
        b64 = np.float64(b)
        for m in range(num):
            q = cands[m]
            # float64: exact squares of float32 differences, so the ranking
            # holds even far from the bins.
            d = ((a64 - np.float64(bins[q, 0])) ** 2 +
                 (b64 - np.float64(bins[q, 1])) ** 2)
            if d < best_d[k - 1]:
                j = k - 1
                while j > 0 and best_d[j - 1] > d:
                    best_d[j] = best_d[j - 1]
                    best_i[j] = best_i[j - 1]
                    j -= 1
                best_d[j] = d
                best_i[j] = q
        # d_j^2 - d_0^2 as (c_j - c_0) . (c_j + c_0 - 2 x): accurate far
        # from the bins.
        a0 = np.float64(bins[best_i[0], 0])
        b0 = np.float64(bins[best_i[0], 1])
        total = 0.0
        for j in range(k):
            aj = np.float64(bins[best_i[j], 0])
            bj = np.float64(bins[best_i[j], 1])
            excess = ((aj - a0) * (aj + a0 - 2 * a64) +
                      (bj - b0) * (bj + b0 - 2 * b64))
            w = math.exp(excess / (-2.0 * sigma * sigma))
            best_d[j] = w
            total += w
        for j in range(k):
            idx_out[p, j] = best_i[j]
            w_out[j, p] = best_d[j] / total

    @cpu_kernels.jit_fast
    def _solve_flagged(a, b, sub, cell, bins, all_bins, lut, cand_row,
                       cand, cand_pad, sigma, scratch, best_d, best_i,
                       idx_out, w_out, p):
        """Exact K nearest bins of a point whose tabulated set misses a
        bin, as the torch path solves it: ranked among the tabulated
        candidates of its sub-cell (``sub``) around its floor cell (lookup
        position ``cell``) when they all carry bins, else against all
        bins."""
        row = cand_row[sub]
        num = 0
        if row >= 0:
            for m in range(cand.shape[1]):
                if cand_pad[row, m]:
                    continue
                q = lut[cell + cand[row, m]]
                if q < 0:
                    num = -1
                    break
                scratch[num] = q
                num += 1
        if num > 0:
            _rank_and_write(a, b, bins, scratch, num, sigma, best_d, best_i,
                            idx_out, w_out, p)
        else:
            _rank_and_write(a, b, bins, all_bins, all_bins.shape[0], sigma,
                            best_d, best_i, idx_out, w_out, p)

    @functools.lru_cache(maxsize=None)
    def _encode_kernel(k: int, depth: int):
        """The kernel for K = k, |du|, |dv| <= depth: compile-time
        constants, so that the per-slot loops unroll."""
        @cpu_kernels.jit_fast
        def kernel(ab, start, end, geo, isub, scale, sigma, sub_code,
                   tw_alpha, tw_beta, tw_gamma, tw_set_b, set_valid,
                   cell_bins, ratio, du_tab, dv_tab, bits, exp_steps,
                   exp_pos, exp_neg, bins, all_bins, lut, cand_row, cand,
                   cand_pad, idx_out, w_out):
            """Encode points [start, end) (flat over N x HW) of ``ab``
            (N, 2, HW) float32, any strides.

            ``geo`` (float64): origin u, origin v, 1/grid, cell lo/hi u,
            lo/hi v. ``isub`` (int64): sub-cells per axis, set bits, lookup
            stride, offset of cell (0, 0), number of sets. Writes
            ``idx_out`` (P, K) int64 and ``w_out`` (K, P) float32; returns
            how many points took the brute-force path.
            """
            o_u = np.float32(geo[0])
            o_v = np.float32(geo[1])
            inv_grid = np.float32(geo[2])
            lo_u, hi_u = np.float32(geo[3]), np.float32(geo[4])
            lo_v, hi_v = np.float32(geo[5]), np.float32(geo[6])
            subdiv, set_bits, stride, offset, n_sets = (
                isub[0], isub[1], isub[2], isub[3], isub[4])
            fsub = np.float32(subdiv)
            set_mask = (1 << set_bits) - 1
            one = np.float32(1.0)
            zero = np.float32(0.0)
            wk = np.empty(k, np.float32)
            scratch = np.empty(cand.shape[1], np.int64)
            best_d = np.empty(k, np.float64)
            best_i = np.zeros(k, np.int64)
            flagged = 0
            hw = ab.shape[2]
            n = start // hw if hw > 0 else 0
            x = start - n * hw
            # Unsigned indices spare numba's negative-index wrap-around.
            for p in range(np.uint64(start), np.uint64(end)):
                av = ab[n, 0, x]
                bv = ab[n, 1, x]
                x += 1
                if x == hw:
                    x = 0
                    n += 1
                u = (av - o_u) * inv_grid
                v = (bv - o_v) * inv_grid
                fu = np.floor(u)
                fv = np.floor(v)
                ru = u - fu
                rv = v - fv
                si = min(max(np.int32(ru * fsub), 0), subdiv - 1)
                sj = min(max(np.int32(rv * fsub), 0), subdiv - 1)
                code = sub_code[np.uint32(si * subdiv + sj)]
                row = np.uint32(code >> set_bits)
                test = tw_alpha[row] + tw_beta[row] * ru + tw_gamma[row] * rv
                s = np.uint32(code & set_mask if test < 0 else tw_set_b[row])
                cu = np.int64(min(max(fu, lo_u), hi_u))
                cv = np.int64(min(max(fv, lo_v), hi_v))
                cell = cu * stride + cv + offset
                cell_set = np.uint64(cell * n_sets + s)
                if not set_valid[cell_set]:
                    _solve_flagged(av, bv, si * subdiv + sj, cell, bins,
                                   all_bins, lut, cand_row, cand, cand_pad,
                                   sigma, scratch, best_d, best_i, idx_out,
                                   w_out, p)
                    flagged += 1
                    continue
                eu, iu = _exp_pair(ru, scale, exp_steps, exp_pos, exp_neg)
                ev, iv = _exp_pair(rv, scale, exp_steps, exp_pos, exp_neg)
                total = one
                if depth == 1:  # compile-time: du, dv in {-1, 0, 1}
                    # E^d = max(d, 0) E + max(-d, 0) / E + (1 - d^2),
                    # exact, and no look-up that depends on another.
                    for j in range(k - 1):
                        du = du_tab[s, j]
                        dv = dv_tab[s, j]
                        w = ratio[s, j] * (
                            max(du, zero) * eu + max(-du, zero) * iu +
                            (one - du * du)) * (
                            max(dv, zero) * ev + max(-dv, zero) * iv +
                            (one - dv * dv))
                        wk[j + 1] = w
                        total += w
                else:  # |du|, |dv| <= 3: E^|d| = E^(|d| & 1) E^(|d| & 2)
                    for j in range(k - 1):
                        f = bits[s, j]
                        # base = E or 1/E by the sign of d; f[...] are 0 or 1,
                        # so every select below is exact.
                        bu = f[0] * eu + (one - f[0]) * iu
                        bv = f[3] * ev + (one - f[3]) * iv
                        w = ratio[s, j] * (
                            (f[1] * bu + (one - f[1])) *
                            (f[2] * bu * bu + (one - f[2])) *
                            (f[4] * bv + (one - f[4])) *
                            (f[5] * bv * bv + (one - f[5])))
                        wk[j + 1] = w
                        total += w
                inv = one / total
                w_out[0, p] = inv
                for j in range(1, k):
                    w_out[j, p] = wk[j] * inv
                for j in range(k):
                    idx_out[p, j] = cell_bins[cell_set, j]
            return flagged

        return kernel


def soft_encode_cpu(ab: torch.Tensor,
                    encoder) -> Tuple[torch.Tensor, torch.Tensor]:
    """Kernel encoding of an ab map.

    Args:
        ab (Tensor): (N, 2, H, W) float32 on CPU, any strides.
        encoder: the :class:`~colorssl.color.SoftEncoder` whose tables
            (``encoder._kernel``, from :func:`build_tables` and the encoder)
            are used.

    Returns:
        ``idx`` (P, K) int64, nearest bin first, and ``weight`` (K, P)
        float32, P = N * H * W, as the encoder's torch path.
    """
    t = encoder._kernel
    n, _, h, w = ab.shape
    # A (N, 2, H*W) view where torch can make one (no torch kernel runs:
    # see _check_ab on OpenMP workers).
    arr = ab.numpy()
    try:
        arr = arr.reshape(n, 2, h * w)
    except ValueError:  # pragma: no cover - H, W not mergeable in memory
        arr = np.ascontiguousarray(arr).reshape(n, 2, h * w)
    total = n * h * w
    k = encoder.num_neighbors
    idx = np.empty((total, k), dtype=np.int64)
    weight = np.empty((k, total), dtype=np.float32)
    kernel = _encode_kernel(k, t['depth'])

    def work(start, end):
        return kernel(arr, start, end, t['geo'], t['isub'], t['scale'],
                      encoder.sigma, t['sub_code'], t['tw_alpha'],
                      t['tw_beta'], t['tw_gamma'], t['tw_set_b'],
                      t['set_valid'], t['cell_bins'], t['ratio'], t['du'],
                      t['dv'], t['bits'], t['exp_steps'], t['exp_pos'],
                      t['exp_neg'], t['bins'], t['all_bins'], t['lut'],
                      t['cand_row'], t['cand'], t['cand_pad'], idx, weight)

    cpu_kernels.run_split(work, total)
    return torch.from_numpy(idx), torch.from_numpy(weight)
