"""Quantised ab bins of the colorization output space.

The network predicts a distribution over ``Q`` ab bins laid on a grid of
spacing :data:`AB_GRID`. The default set, ``'original313'``, is the list of
313 bin centres that the original release shipped (sorted by a, then b); it is
treated as data. :func:`srgb_reachable_bins` computes the set of grid points
that 8-bit sRGB colours actually round to (261 for a grid of 10), which is
contained in the shipped list.
"""
import functools
import os.path as osp
import warnings

import numpy as np
import torch
from torch import Tensor

from .lab import rgb8_to_lab

AB_GRID = 10
"""Spacing of the ab quantisation grid, in Lab units."""

DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'data')
ORIGINAL_313_FILE = osp.join(DATA_DIR, 'ab_bins_313.csv')

_BUILTIN = ('original313', 'srgb_reachable')
_FORMAT_HELP = ("a .csv file with header 'a,b' and one 'a,b' row per bin, "
                'or a .npy file holding a float array of shape (Q, 2)')


def _read_csv(path: str) -> np.ndarray:
    with open(path, 'r', encoding='utf-8') as f:
        header = f.readline().strip().replace(' ', '').lower()
        if header != 'a,b':
            raise ValueError(f'ab bin file {path!r}: expected {_FORMAT_HELP}; '
                             f'the first line is {header!r}, not "a,b"')
        try:
            with warnings.catch_warnings():
                # An empty file is reported below by its shape.
                warnings.simplefilter('ignore', UserWarning)
                arr = np.loadtxt(f, delimiter=',', dtype=np.float64, ndmin=2)
        except ValueError as e:
            raise ValueError(f'ab bin file {path!r}: expected {_FORMAT_HELP}; '
                             f'could not parse it ({e})') from e
    return arr


def _read_npy(path: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ValueError(f'ab bin file {path!r}: expected {_FORMAT_HELP}; '
                         f'could not load it ({e})') from e
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in 'fiu':
        raise ValueError(f'ab bin file {path!r}: expected {_FORMAT_HELP}; '
                         'it holds no numeric array')
    return arr.astype(np.float64)


@functools.lru_cache(maxsize=None)
def _load_file(path: str) -> np.ndarray:
    if not osp.isfile(path):
        raise ValueError(f'ab bins {path!r}: no such file; expected one of '
                         f'{_BUILTIN} or the path of {_FORMAT_HELP}')
    ext = osp.splitext(path)[1].lower()
    if ext == '.csv':
        arr = _read_csv(path)
    elif ext == '.npy':
        arr = _read_npy(path)
    else:
        raise ValueError(f'ab bin file {path!r}: unsupported extension '
                         f'{ext!r}; expected {_FORMAT_HELP}')
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f'ab bin file {path!r}: expected {_FORMAT_HELP}; '
                         f'got an array of shape {arr.shape}')
    if not np.isfinite(arr).all():
        raise ValueError(f'ab bin file {path!r}: contains non-finite values')
    if len(np.unique(arr, axis=0)) != len(arr):
        raise ValueError(f'ab bin file {path!r}: contains duplicate bins')
    arr.setflags(write=False)
    return arr


def load_ab_bins(bins: str = 'original313') -> Tensor:
    """Load a set of ab bin centres.

    Args:
        bins (str): ``'original313'`` (the 313 bins of the original release,
            shipped as package data), ``'srgb_reachable'`` (see
            :func:`srgb_reachable_bins`), or the path of a ``.csv`` file with
            an ``a,b`` header or of a ``.npy`` file holding a ``(Q, 2)`` array.

    Returns:
        Tensor: Bin centres, shape ``(Q, 2)``, float32, columns ``(a, b)``,
        in file order.
    """
    if not isinstance(bins, str):
        raise TypeError(f'bins must be a str (one of {_BUILTIN} or a file '
                        f'path), got {type(bins)!r}')
    if bins == 'original313':
        arr = _load_file(ORIGINAL_313_FILE)
    elif bins == 'srgb_reachable':
        return srgb_reachable_bins()
    else:
        arr = _load_file(osp.abspath(osp.expanduser(bins)))
    return torch.from_numpy(arr.copy()).float()


@functools.lru_cache(maxsize=None)
def _reachable(grid: int) -> Tensor:
    codes = torch.arange(256, dtype=torch.uint8)
    keys = set()
    for red in codes.split(16):
        rgb = torch.stack(
            torch.meshgrid(red, codes, codes, indexing='ij'),
            dim=1)  # (16, 3, 256, 256)
        ab = rgb8_to_lab(rgb, dtype=torch.float64)[:, 1:]
        cell = torch.round(ab / grid).long() + 2048  # in [0, 4096)
        keys.update((cell[:, 0] * 4096 + cell[:, 1]).unique().tolist())
    cells = sorted(divmod(key, 4096) for key in keys)
    return (torch.tensor(cells, dtype=torch.float32) - 2048) * grid


def srgb_reachable_bins(grid: int = AB_GRID) -> Tensor:
    """ab grid points reached by the 256^3 8-bit sRGB colours.

    Every 8-bit sRGB colour is converted with :func:`rgb8_to_lab` (float64) and
    its ab is rounded to the nearest multiple of ``grid``; the distinct
    results are returned sorted by a, then b. The result is cached.

    Args:
        grid (int): Grid spacing in Lab units. Defaults to :data:`AB_GRID`.

    Returns:
        Tensor: Bin centres, shape ``(K, 2)``, float32 (261 bins for the
        default grid of 10).
    """
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(f'grid must be a positive int, got {grid!r}')
    return _reachable(grid).clone()
