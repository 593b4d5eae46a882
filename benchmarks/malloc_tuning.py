"""Keep glibc's malloc from handing large CPU buffers back to the kernel.

On CPU every training step allocates and frees the same multi-megabyte
activation buffers. With glibc's defaults a freed buffer above the mmap
threshold is unmapped, and the heap top above the trim threshold is returned
to the kernel, so the next step page-faults all of that memory in again. On
this project's 2-core test machine that made the 8-bit Lab conversion of a
16 x 176 x 176 batch take 24 ms instead of 7 ms, and a ResNet-50 training step
about 9 % slower (``benchmarks/bench_colorization.py``; README).

:func:`tune_malloc` raises both thresholds with ``mallopt``: allocations up to
32 MiB come from the heap and freed memory stays with the process (its
resident size stays at its peak, as with PyTorch's caching allocators).
``tools/train.py``, ``tools/test.py`` and the benchmarks call it;
``COLORSSL_MALLOC_TUNING=0`` turns it off. It does nothing where the C library
is not glibc.
"""
import ctypes
import ctypes.util
import os
import platform

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# The ceiling of glibc's own dynamic mmap threshold on 64-bit
# (DEFAULT_MMAP_THRESHOLD_MAX).
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024

ENV_VAR = 'COLORSSL_MALLOC_TUNING'


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD,
                trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Set glibc's mmap and trim thresholds for this process.

    Args:
        mmap_threshold (int): Allocations at least this large are served by
            ``mmap`` (and unmapped when freed). Defaults to 32 MiB.
        trim_threshold (int): Free memory at the heap top beyond this is
            returned to the kernel. Defaults to 1 GiB.

    Returns:
        bool: True if both settings were applied; False when disabled by
        ``COLORSSL_MALLOC_TUNING=0``, off Linux/glibc, or refused by mallopt.
    """
    if os.environ.get(ENV_VAR, '1') == '0':
        return False
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return False
    name = ctypes.util.find_library('c')
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    ok_trim = mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1
    return ok_mmap and ok_trim
