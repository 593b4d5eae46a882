"""Fused CPU kernel (numba) for :class:`colorssl.color.SoftEncoder`.

The encoder's lattice tables (see ``encode.py``) answer each pixel with a few
look-ups: sub-cell -> K-set (with one affine test where two sets meet), floor
cell + set -> K bins. The torch path runs those look-ups as about thirty
vectorised passes over the batch. This kernel takes blocks of 256 pixels
through five short passes (lattice position, K-set, exponentials, weights,
normalisation), each with a short chain of dependent steps per pixel, so
that the processor overlaps many pixels; the K slots of a pixel are SIMD
lanes (compiled with LLVM's SLP vectorizer, scratch on the stack: see
``cpu_kernels``). It computes the weights without calling ``exp`` per slot:

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
  positive factors, selected by 0/1 factors of per-set tables (exact).

Pixels the tables leave open are solved after the block passes, as the
torch path solves them: ranked among their sub-cell's tabulated candidates (where
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
# Points per block of the kernel's passes.
_BLOCK = 256


def build_tables(set_const: np.ndarray, set_u: np.ndarray,
                 set_v: np.ndarray, scale: float) -> Optional[Dict]:
    """The kernel's per-set tables, or None when it cannot serve them.

    Args:
        set_const, set_u, set_v: (K-1, n_sets) float, the encoder's affine
            log-weight coefficients of slots 1..K-1 (``set_u = s * du``).
        scale: s = grid^2 / sigma^2.

    Returns:
        dict with ``lanes`` L, the slots padded to a power of two (>= K) so
        that the kernel computes all slots of a pixel as one SIMD vector;
        per set and lane (n_sets, L) float32: ``ratio`` = exp(const)
        (slot 0: 1, padding: 0); with (du, dv) the slots' lattice offsets
        from slot 0, ``coef`` (n_sets, 6, L) float32 = ratio [du > 0],
        ratio [du < 0], ratio [du = 0], [dv > 0], [dv < 0], [dv = 0] (the
        kernel's factors where |du|, |dv| <= 1) and ``bits`` (n_sets, 6, L)
        float32 0/1 flags (du > 0, |du| & 1, |du| & 2, then the same for
        dv; where they reach 2 or 3); ``depth``
        D = max |du|, |dv|; ``exp_steps`` M and the (M,) tables
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
    k = set_const.shape[0] + 1
    lanes = 1 << (k - 1).bit_length()

    def lanes_of(x, slot0, pad):  # (K-1, n_sets) -> (n_sets, L) float32
        out = np.full((x.shape[1], lanes), pad, dtype=np.float32)
        out[:, 0] = slot0
        out[:, 1:k] = x.T
        return out

    def bit_flags(d):  # (K-1, n_sets) -> (d > 0, |d| & 1, |d| & 2)
        m = np.abs(d).astype(np.int64)
        return [d > 0, (m & 1) > 0, (m & 2) > 0]

    ratio = lanes_of(np.exp(set_const.astype(np.float64)), 1.0, 0.0)
    du_l, dv_l = lanes_of(du, 0.0, 0.0), lanes_of(dv, 0.0, 0.0)
    return dict(
        lanes=lanes,
        ratio=ratio,
        coef=np.ascontiguousarray(np.stack(
            [ratio * (du_l > 0), ratio * (du_l < 0), ratio * (du_l == 0),
             dv_l > 0, dv_l < 0, dv_l == 0], axis=1).astype(np.float32)),
        bits=np.ascontiguousarray(np.stack(
            [lanes_of(f, 0.0, 0.0) for f in bit_flags(du) + bit_flags(dv)],
            axis=1)),
        depth=depth, exp_steps=steps,
        exp_pos=np.exp(grid).astype(np.float32),
        exp_neg=np.exp(-grid).astype(np.float32))


if numba is not None:
    stack_array = cpu_kernels.stack_array

    @cpu_kernels.jit_fast
    def _position(a, b, geo32, isub):
        """Where point (a, b) lies: position in its floor cell (lattice
        units, [0, 1)), sub-cell index and look-up position of the floor
        cell (clamped). ``geo32``: ``geo`` as a float32 tuple; ``isub`` as
        in the kernel."""
        subdiv, stride, offset = isub[0], isub[2], isub[3]
        u = (a - geo32[0]) * geo32[2]
        v = (b - geo32[1]) * geo32[2]
        fu = np.floor(u)
        fv = np.floor(v)
        ru = u - fu
        rv = v - fv
        fsub = np.float32(subdiv)
        sub = (min(max(np.int32(ru * fsub), 0), subdiv - 1) * subdiv +
               min(max(np.int32(rv * fsub), 0), subdiv - 1))
        cell = (np.int64(min(max(fu, geo32[3]), geo32[4])) * stride +
                np.int64(min(max(fv, geo32[5]), geo32[6])) + offset)
        return ru, rv, sub, cell

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
        ``idx_out[p]`` and ``w_out[p]``. ``best_d``, ``best_i``: (K,)
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
            w_out[p, j] = best_d[j] / total

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
    def _encode_kernel(k: int, depth: int, lanes: int, with_bin_weight: bool):
        """The kernel for K = k, |du|, |dv| <= depth, ``lanes`` slots per
        set: compile-time constants, so that the lane loops become SIMD
        vectors; ``with_bin_weight``: also write ``bin_w`` of each point's
        nearest bin to ``pw_out`` (else both are ignored)."""
        @cpu_kernels.jit_fast
        def kernel(ab, start, end, geo, isub, scale, sigma, sub_code,
                   two_way, set_valid, cell_bins, ratio, coef, bits,
                   exp_steps, exp_pos, exp_neg, bins, all_bins, lut,
                   cand_row, cand, cand_pad, bin_w, idx_out, w_out, pw_out):
            """Encode points [start, end) (flat over N x HW) of ``ab``
            (N, 2, HW) float32, any strides.

            ``geo`` (float64): origin u, origin v, 1/grid, cell lo/hi u,
            lo/hi v. ``isub`` (int64): sub-cells per axis, set bits, lookup
            stride, offset of cell (0, 0), number of sets. ``two_way``
            (rows, 4): alpha, beta, gamma, set B of the sub-cells where two
            sets meet. Writes ``idx_out`` (P, K) int64, ``w_out`` (P, K)
            float32 and, with ``with_bin_weight``, ``pw_out`` (P,) =
            ``bin_w[idx_out[:, 0]]``; returns how many points the tables
            left open.
            """
            geo32 = (np.float32(geo[0]), np.float32(geo[1]),
                     np.float32(geo[2]), np.float32(geo[3]),
                     np.float32(geo[4]), np.float32(geo[5]),
                     np.float32(geo[6]))
            set_bits, n_sets = isub[1], isub[4]
            set_mask = (1 << set_bits) - 1
            one = np.float32(1.0)
            zero = np.float32(0.0)
            # Scratch on the stack (kept in registers where it can be):
            # the block's per-point values between the passes below, and
            # one point's slots.
            blk_ru = stack_array(_BLOCK, np.float32)
            blk_rv = stack_array(_BLOCK, np.float32)
            blk_sub = stack_array(_BLOCK, np.int32)
            blk_cell = stack_array(_BLOCK, np.int64)
            blk_set = stack_array(_BLOCK, np.int64)
            blk_eu = stack_array(_BLOCK, np.float32)
            blk_iu = stack_array(_BLOCK, np.float32)
            blk_ev = stack_array(_BLOCK, np.float32)
            blk_iv = stack_array(_BLOCK, np.float32)
            wk = stack_array(lanes, np.float32)
            kb = stack_array(k, np.int64)
            # Points whose set misses a bin: solved after the main loop, so
            # that the loop itself stays small and branch-free.
            pending = np.empty(max(end - start, 0), np.int64)
            flagged = 0
            hw = ab.shape[2]
            # Blocks of points within one image: five short passes, each
            # with a short chain of dependent steps per point, so that the
            # processor overlaps many points (one long pass per point kept
            # about one point in flight).
            p0 = start
            while p0 < end:
                n = p0 // hw
                x0 = p0 - n * hw
                m = min(_BLOCK, end - p0, hw - x0)
                a_row = ab[n, 0]
                b_row = ab[n, 1]
                # 1. lattice position (SIMD across points).
                for i in range(m):
                    ru, rv, sub, cell = _position(a_row[x0 + i], b_row[x0 + i],
                                                  geo32, isub)
                    blk_ru[i] = ru
                    blk_rv[i] = rv
                    blk_sub[i] = sub
                    blk_cell[i] = cell
                # 2. the point's K-set: table look-ups.
                for i in range(m):
                    code = sub_code[np.uint32(blk_sub[i])]
                    row = np.uint32(code >> set_bits)
                    test = (two_way[row, 0] + two_way[row, 1] * blk_ru[i] +
                            two_way[row, 2] * blk_rv[i])
                    s = (code & set_mask if test < 0 else
                         np.int64(two_way[row, 3]))
                    cell_set = blk_cell[i] * n_sets + s
                    blk_sub[i] = s  # the sub-cell is no longer needed
                    blk_set[i] = cell_set
                    pending[flagged] = p0 + i
                    flagged += 1 - np.int64(set_valid[np.uint64(cell_set)])
                # 3. E = exp(s r) and 1 / E on both axes (SIMD across
                # points).
                for i in range(m):
                    eu, iu = _exp_pair(blk_ru[i], scale, exp_steps, exp_pos,
                                       exp_neg)
                    ev, iv = _exp_pair(blk_rv[i], scale, exp_steps, exp_pos,
                                       exp_neg)
                    blk_eu[i] = eu
                    blk_iu[i] = iu
                    blk_ev[i] = ev
                    blk_iv[i] = iv
                # 4. weights of all slots at once (lane 0: slot 0, weight
                # 1; padding: 0), unnormalised, and the bins.
                for i in range(m):
                    cell_set = np.uint64(blk_set[i])
                    s = np.uint32(blk_sub[i])
                    eu = blk_eu[i]
                    iu = blk_iu[i]
                    ev = blk_ev[i]
                    iv = blk_iv[i]
                    if depth == 1:  # compile-time: du, dv in {-1, 0, 1}
                        # ratio E_u^du = ratio (E_u, 1 / E_u or 1) by the
                        # sign of du, as a sum of products with 0/1 flags
                        # (exact); the same for v.
                        for j in range(lanes):
                            wk[j] = (coef[s, 0, j] * eu + coef[s, 1, j] * iu +
                                     coef[s, 2, j]) * (
                                coef[s, 3, j] * ev + coef[s, 4, j] * iv +
                                coef[s, 5, j])
                    else:  # |du|, |dv| <= 3: E^|d| = E^(|d| & 1) E^(|d| & 2)
                        for j in range(lanes):
                            # base = E or 1/E by the sign of d; the flags
                            # are 0 or 1, so every select below is exact.
                            f0 = bits[s, 0, j]
                            f3 = bits[s, 3, j]
                            bu = f0 * eu + (one - f0) * iu
                            bv = f3 * ev + (one - f3) * iv
                            f1 = bits[s, 1, j]
                            f2 = bits[s, 2, j]
                            f4 = bits[s, 4, j]
                            f5 = bits[s, 5, j]
                            wk[j] = ratio[s, j] * (
                                (f1 * bu + (one - f1)) *
                                (f2 * bu * bu + (one - f2)) *
                                (f4 * bv + (one - f4)) *
                                (f5 * bv * bv + (one - f5)))
                    total = zero
                    for j in range(lanes):
                        total += wk[j]
                    blk_eu[i] = total  # E_u is no longer needed
                    q = np.uint64(p0 + i)
                    for j in range(k):
                        w_out[q, j] = wk[j]
                    for j in range(k):
                        kb[j] = cell_bins[cell_set, j]
                    for j in range(k):
                        idx_out[q, j] = kb[j]
                    if with_bin_weight:
                        pw_out[q] = bin_w[kb[0]]
                # 5. normalise (SIMD across points: no division per point
                # on the chain of step 4).
                for i in range(m):
                    blk_iu[i] = one / blk_eu[i]
                for i in range(m):
                    q = np.uint64(p0 + i)
                    inv = blk_iu[i]
                    for j in range(k):
                        w_out[q, j] *= inv
                p0 += m
            if flagged > 0:
                scratch = np.empty(cand.shape[1], np.int64)
                best_d = np.empty(k, np.float64)
                best_i = np.zeros(k, np.int64)
                for i in range(flagged):
                    q = pending[i]
                    n = q // hw
                    x = q - n * hw
                    av = ab[n, 0, x]
                    bv = ab[n, 1, x]
                    _, _, sub, cell = _position(av, bv, geo32, isub)
                    _solve_flagged(av, bv, sub, cell, bins, all_bins, lut,
                                   cand_row, cand, cand_pad, sigma, scratch,
                                   best_d, best_i, idx_out, w_out, q)
                    if with_bin_weight:
                        pw_out[q] = bin_w[idx_out[q, 0]]
            return flagged

        return kernel


def _points(ab: torch.Tensor) -> np.ndarray:
    """(N, 2, H, W) float32 CPU tensor -> (N, 2, H*W) numpy array, a view
    where the memory allows one (else numpy copies)."""
    n, _, h, w = ab.shape
    return ab.numpy().reshape(n, 2, h * w)


def variant(ab: torch.Tensor,
            bin_weight: Optional[torch.Tensor]) -> Tuple[str, bool]:
    """What selects the compiled kernel besides the encoder's K and
    tables: the numba layout of the points array ('C', 'F' or 'A') and
    whether the bin weights are looked up in the kernel."""
    fused = bin_weight is not None and bin_weight.dtype == torch.float32
    return _layout(ab.numpy() if ab.is_contiguous() else _points(ab)), fused


def _layout(arr: np.ndarray) -> str:
    """numba's layout of an array: 'C', 'F' or 'A'."""
    flags = arr.flags
    return 'C' if flags.c_contiguous else 'F' if flags.f_contiguous else 'A'


# Kernel variants compiled (or loaded from numba's cache) in this process.
_compiled = set()


def soft_encode_cpu(ab: torch.Tensor, encoder,
                    bin_weight: Optional[torch.Tensor] = None
                    ) -> Tuple[torch.Tensor, ...]:
    """Kernel encoding of an ab map.

    Args:
        ab (Tensor): (N, 2, H, W) float32 on CPU, any strides.
        encoder: the :class:`~colorssl.color.SoftEncoder` whose tables
            (``encoder._kernel``, from :func:`build_tables` and the encoder)
            are used.
        bin_weight (Tensor, optional): (Q,) a weight per bin, on CPU.

    Returns:
        ``idx`` (P, K) int64, nearest bin first, and ``weight`` (P, K)
        float32, P = N * H * W (the torch path's weights are (K, P)); with
        ``bin_weight`` also ``bin_weight[idx[:, 0]]`` (P,).
    """
    t = encoder._kernel
    n, _, h, w = ab.shape
    # numpy, not torch (no torch kernel runs: see _check_ab on OpenMP
    # workers).
    arr = _points(ab)
    total = n * h * w
    k = encoder.num_neighbors
    idx = np.empty((total, k), dtype=np.int64)
    weight = np.empty((total, k), dtype=np.float32)
    # The kernel looks up float32 weights; other dtypes are looked up below.
    fused = bin_weight is not None and bin_weight.dtype == torch.float32
    if fused:
        bin_w = bin_weight.detach().contiguous().numpy()
        pixel_w = np.empty(total, dtype=np.float32)
    else:
        bin_w = pixel_w = np.empty(0, dtype=np.float32)
    kernel = _encode_kernel(k, t['depth'], t['lanes'], fused)

    def work(start, end):
        return kernel(arr, start, end, t['geo'], t['isub'], t['scale'],
                      encoder.sigma, t['sub_code'], t['two_way'],
                      t['set_valid'], t['cell_bins'], t['ratio'], t['coef'],
                      t['bits'], t['exp_steps'], t['exp_pos'],
                      t['exp_neg'], t['bins'], t['all_bins'], t['lut'],
                      t['cand_row'], t['cand'], t['cand_pad'], bin_w, idx,
                      weight, pixel_w)

    key = (kernel, _layout(arr))
    if key not in _compiled:
        with cpu_kernels.slp_vectorizer():
            work(0, 0)  # compiles for these argument types
        _compiled.add(key)
    cpu_kernels.run_split(work, total)
    out = (torch.from_numpy(idx), torch.from_numpy(weight))
    if fused:
        return out + (torch.from_numpy(pixel_w),)
    if bin_weight is not None:
        return out + (bin_weight.index_select(0, out[0][:, 0]),)
    return out
