"""Quantised ab bins of the colorization output space.

``'original313'`` is the list of 313 bin centres of the original release (grid
:data:`AB_GRID`, sorted by a, then b), shipped as data; :func:`srgb_reachable_bins`
computes the grid points that 8-bit sRGB colours round to (261), all in that list.
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

_FORMAT = ("a .csv file with header 'a,b' and one 'a,b' row per bin, or a .npy "
           'file holding a float array of shape (Q, 2)')


@functools.lru_cache(maxsize=None)
def _load_file(path: str) -> np.ndarray:
    ext = osp.splitext(path)[1].lower()
    where = f'ab bin file {path!r}: expected {_FORMAT}'
    if not osp.isfile(path):
        raise ValueError(f"ab bins {path!r}: no such file; expected 'original313', "
                         f"'srgb_reachable' or the path of {_FORMAT}")
    if ext not in ('.csv', '.npy'):
        raise ValueError(f'{where}; unsupported extension {ext!r}')
    try:
        if ext == '.npy':
            arr = np.load(path, allow_pickle=False)
        else:
            with open(path, encoding='utf-8') as f, warnings.catch_warnings():
                header = f.readline().strip().replace(' ', '').lower()
                if header != 'a,b':
                    raise ValueError(f'the first line is {header!r}, not "a,b"')
                warnings.simplefilter('ignore', UserWarning)  # empty: shape below
                arr = np.loadtxt(f, delimiter=',', ndmin=2)
        arr = np.asarray(arr, dtype=np.float64)
    except (ValueError, OSError, TypeError) as e:
        raise ValueError(f'{where}; could not read it ({e})') from e
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f'{where}; got an array of shape {arr.shape}')
    if not np.isfinite(arr).all():
        raise ValueError(f'ab bin file {path!r}: contains non-finite values')
    if len(np.unique(arr, axis=0)) != len(arr):
        raise ValueError(f'ab bin file {path!r}: contains duplicate bins')
    arr.setflags(write=False)
    return arr


def load_ab_bins(bins: str = 'original313') -> Tensor:
    """Bin centres (Q, 2), float32, columns (a, b), in file order.

    Args:
        bins (str): ``'original313'``, ``'srgb_reachable'``
            (:func:`srgb_reachable_bins`) or the path of a .csv file with an
            ``a,b`` header or of a .npy file holding a (Q, 2) array.
    """
    if not isinstance(bins, str):
        raise TypeError(f'bins must be a str, got {type(bins)!r}')
    if bins == 'srgb_reachable':
        return srgb_reachable_bins()
    path = ORIGINAL_313_FILE if bins == 'original313' else osp.abspath(
        osp.expanduser(bins))
    return torch.from_numpy(_load_file(path).copy()).float()


@functools.lru_cache(maxsize=None)
def _reachable(grid: int) -> Tensor:
    codes = torch.arange(256, dtype=torch.uint8)
    keys = set()
    for red in codes.split(16):
        rgb = torch.stack(torch.meshgrid(red, codes, codes, indexing='ij'), dim=1)
        ab = rgb8_to_lab(rgb, dtype=torch.float64)[:, 1:]  # (16, 2, 256, 256)
        cell = torch.round(ab / grid).long() + 2048  # in [0, 4096)
        keys.update((cell[:, 0] * 4096 + cell[:, 1]).unique().tolist())
    cells = sorted(divmod(key, 4096) for key in keys)
    return (torch.tensor(cells, dtype=torch.float32) - 2048) * grid


def srgb_reachable_bins(grid: int = AB_GRID) -> Tensor:
    """The distinct multiples of ``grid`` nearest to the ab (float64
    :func:`rgb8_to_lab`) of the 256^3 8-bit sRGB colours, sorted by a, then b:
    (K, 2) float32, K = 261 for the grid of 10. Cached."""
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(f'grid must be a positive int, got {grid!r}')
    return _reachable(grid).clone()
