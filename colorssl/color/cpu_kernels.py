"""Fused CPU kernel (numba) for the Lab conversion of 8-bit batches.

Vectorised torch code makes one pass over memory per elementwise operation,
and sRGB -> Lab needs about a dozen of them. :func:`rgb8_to_lab_cpu` does the
same maths in one pass per pixel: the 256-entry sRGB table, the 3x3 matrix,
and the cube root of the CIE companding as a cubic first guess refined by two
Newton steps, written without branches so that the compiler vectorises the
loop (SIMD). It splits the pixels over ``torch.get_num_threads()`` Python
threads; the kernel releases the GIL (numba ``nogil``), so no second threading
runtime (OpenMP/TBB) is started next to torch's.

The soft-encoding kernel (``soft_encode_cpu.py``) and the colour loss's
kernels (``colorssl/models/losses/soft_target_nll_cpu.py``) use the same
switch, decorator and thread split; this module also holds the helpers of
the soft-encoding kernel (:func:`slp_vectorizer`, :func:`stack_array`).

numba is optional: :func:`enabled` is False when it is not installed or when
the environment variable ``COLORSSL_NUMBA=0`` is set, and the callers then use
their pure-torch paths, which compute the same values. Compiled kernels are
cached on disk by numba (``cache=True``), so only the first run on a machine
pays the compilation (about a second).
"""
import contextlib
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List

import numpy as np
import torch

try:
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

ENV_SWITCH = 'COLORSSL_NUMBA'

# CIE Lab companding (see lab.py): t^(1/3) above EPSILON, linear below.
_LAB_EPSILON = 0.008856
_LAB_KAPPA_SLOPE = 7.787
_LAB_OFFSET = 16.0 / 116.0


def enabled() -> bool:
    """Whether the numba kernels are used (installed and not switched off
    with ``COLORSSL_NUMBA=0``)."""
    return numba is not None and os.environ.get(ENV_SWITCH, '1') != '0'


_pool = None
_pool_pid = None  # a forked child inherits the pool object but not its threads
_pool_lock = threading.Lock()


def run_split(fn: Callable[[int, int], object], total: int,
              min_chunk: int = 16384,
              chunks_per_thread: int = 8) -> List[object]:
    """Run ``fn(start, end)`` over ``[0, total)`` on ``torch.get_num_threads()``
    threads (fewer for small totals); returns the results in range order.

    The range is cut into up to ``chunks_per_thread`` chunks per thread,
    of at least ``min_chunk`` items, which the calling thread and the
    helpers take in turn. Right after a parallel torch op, torch's OpenMP
    workers keep spinning on the other cores for a while and a helper thread
    there runs at half speed or less; with a fixed split the call then took
    up to 2.5x the one-thread time, with chunks taken in turn the calling
    thread does the helper's share and it is never much slower than one
    thread.
    """
    global _pool, _pool_pid
    threads = max(1, min(torch.get_num_threads(), total // max(min_chunk, 1)))
    if threads == 1:
        return [fn(0, total)]
    num = max(threads, min(threads * chunks_per_thread, total // min_chunk))
    bounds = [total * i // num for i in range(num + 1)]
    results: List[object] = [None] * num
    taken = itertools.count()  # next() is atomic under the GIL

    def worker():
        for i in iter(taken.__next__, None):
            if i >= num:
                return
            results[i] = fn(bounds[i], bounds[i + 1])

    with _pool_lock:
        if (_pool is None or _pool_pid != os.getpid()
                or _pool._max_workers < threads - 1):
            _pool = ThreadPoolExecutor(max_workers=threads - 1,
                                       thread_name_prefix='colorssl-kernel')
            _pool_pid = os.getpid()
        pool = _pool
    futures = [pool.submit(worker) for _ in range(threads - 1)]
    worker()
    for f in futures:
        f.result()
    return results


def _cube_root_guess() -> np.ndarray:
    """Cubic least-squares fit of t^(1/3) on [1/8, 1] (relative error below
    2 %), the first guess of the Newton steps; highest degree first."""
    t = np.linspace(0.125, 1.0, 2001)
    return np.polyfit(t, np.cbrt(t), 3).astype(np.float32)


_CBRT_POLY = _cube_root_guess()

if numba is not None:
    from numba.core import cgutils, types
    from numba.core.compiler_lock import global_compiler_lock
    from numba.extending import intrinsic

    # fastmath lets the compiler vectorise the loops (only + - * / and
    # compares there); error_model='numpy' removes the zero-division checks
    # that would otherwise keep every loop scalar.
    jit_fast = numba.njit(cache=True, nogil=True, error_model='numpy',
                          fastmath=True)

    @contextlib.contextmanager
    def slp_vectorizer():
        """Compile the kernels first called in this block with LLVM's SLP
        vectorizer, which numba leaves off by default
        (``numba.core.config.SLP_VECTORIZE``).

        The SLP vectorizer packs the same operation on neighbouring values
        (the K slots of one pixel) into one SIMD instruction, where the loop
        vectorizer, which works across loop iterations, would need gathers.
        numba reads the switch when it optimises a compiled module, under its
        global compiler lock, which this block holds so that no other
        thread compiles meanwhile. Kernels already compiled (or loaded from
        numba's cache) are not affected.
        """
        from numba.core import config
        with global_compiler_lock:
            saved = config.SLP_VECTORIZE
            config.SLP_VECTORIZE = 1
            try:
                yield
            finally:
                config.SLP_VECTORIZE = saved

    @intrinsic
    def stack_array(typingctx, size, dtype):
        """``stack_array(size, dtype)``, inside a kernel: a 1-d scratch array
        of ``size`` (a compile-time constant) uninitialised items on the
        kernel's stack.

        Unlike an ``np.empty`` array, the compiler knows that it shares no
        memory with the kernel's arguments, so it can keep the items in
        registers and pack the loads, arithmetic and stores around them into
        SIMD instructions (see :func:`slp_vectorizer`). Valid until the
        kernel returns; do not return it.
        """
        if not isinstance(size, types.IntegerLiteral):
            return None
        count = size.literal_value
        elem = dtype.dtype
        arr_type = types.Array(elem, 1, 'C')

        def codegen(context, builder, signature, args):
            from numba.np.arrayobj import populate_array
            item = context.get_value_type(elem)
            itemsize = context.get_abi_sizeof(item)
            intp = context.get_value_type(types.intp)
            arr = context.make_array(arr_type)(context, builder)
            populate_array(
                arr,
                data=cgutils.alloca_once(builder, item, size=count),
                shape=[intp(count)], strides=[intp(itemsize)],
                itemsize=intp(itemsize), meminfo=None)
            return arr._getvalue()

        return arr_type(size, dtype), codegen

    @jit_fast
    def _lab_f_block(t, f, poly, n):
        """f[:n] = CIE companding of t[:n] (float32), branch-free."""
        one = np.float32(1.0)
        eps = np.float32(_LAB_EPSILON)
        p3, p2, p1, p0 = poly[0], poly[1], poly[2], poly[3]
        for i in range(n):
            ti = t[i]
            high = np.float32(ti > eps)
            x = high * ti + (one - high) * eps
            # Bring x into [1/8, 1]: cbrt(64 x) = 4 cbrt(x), cbrt(8 x) = 2 cbrt(x).
            m = np.float32(x < np.float32(1.0 / 64.0))
            x = x * (one + np.float32(63.0) * m)
            scale = one - np.float32(0.75) * m
            m = np.float32(x < np.float32(1.0 / 8.0))
            x = x * (one + np.float32(7.0) * m)
            scale = scale * (one - np.float32(0.5) * m)
            y = ((p3 * x + p2) * x + p1) * x + p0
            y = y - (y * y * y - x) / (np.float32(3.0) * y * y)
            y = y - (y * y * y - x) / (np.float32(3.0) * y * y)
            f[i] = high * y * scale + (one - high) * (
                np.float32(_LAB_KAPPA_SLOPE) * ti + np.float32(_LAB_OFFSET))

    @jit_fast
    def _rgb8_to_lab_kernel(src, lut, mat, poly, out, start, end):
        """src (B, 3, P) uint8 -> out (B, 3, P) float32 Lab, pixels
        [start, end) of every image. ``mat`` maps linear RGB to XYZ / white."""
        block = 1024
        t = np.empty((3, block), np.float32)
        f = np.empty((3, block), np.float32)
        m00, m01, m02 = mat[0, 0], mat[0, 1], mat[0, 2]
        m10, m11, m12 = mat[1, 0], mat[1, 1], mat[1, 2]
        m20, m21, m22 = mat[2, 0], mat[2, 1], mat[2, 2]
        for img in range(src.shape[0]):
            s0, s1, s2 = src[img, 0], src[img, 1], src[img, 2]
            for lo in range(start, end, block):
                n = min(block, end - lo)
                for i in range(n):
                    r = lut[s0[lo + i]]
                    g = lut[s1[lo + i]]
                    b = lut[s2[lo + i]]
                    t[0, i] = m00 * r + m01 * g + m02 * b
                    t[1, i] = m10 * r + m11 * g + m12 * b
                    t[2, i] = m20 * r + m21 * g + m22 * b
                for c in range(3):
                    _lab_f_block(t[c], f[c], poly, n)
                o0, o1, o2 = out[img, 0], out[img, 1], out[img, 2]
                for i in range(n):
                    o0[lo + i] = np.float32(116.0) * f[1, i] - np.float32(16.0)
                    o1[lo + i] = np.float32(500.0) * (f[0, i] - f[1, i])
                    o2[lo + i] = np.float32(200.0) * (f[1, i] - f[2, i])


def rgb8_to_lab_cpu(rgb: torch.Tensor, lut: torch.Tensor,
                    mat: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, P) CPU tensor -> float32 Lab (B, 3, P).

    Args:
        rgb (Tensor): uint8, shape (B, 3, P), on CPU.
        lut (Tensor): (256,) float32, the linear value of each 8-bit code.
        mat (Tensor): (3, 3) float32, linear RGB -> (X/Xn, Y/Yn, Z/Zn).
    """
    src = rgb.contiguous().numpy()
    out = np.empty(src.shape, dtype=np.float32)
    lut_np = lut.numpy()
    mat_np = mat.contiguous().numpy()

    def work(start, end):
        _rgb8_to_lab_kernel(src, lut_np, mat_np, _CBRT_POLY, out, start, end)

    run_split(work, src.shape[2], min_chunk=4096)
    return torch.from_numpy(out)
