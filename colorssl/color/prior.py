"""Colour prior files (.npz with ``prior`` (Q,), ``bins`` (Q, 2), a JSON ``meta``
and optionally ``counts`` (Q,)) and the prior that ``model.head.prior`` names."""
import io
import json
import os
import os.path as osp
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .bins import DATA_DIR
from .rebalance import smooth_prior

DEFAULT_PRIOR = osp.join(DATA_DIR, 'prior_313_cifar10mini.npz')
"""Prior over the ``'original313'`` bins of the cifar10-mini training photos
(``tools/compute_color_prior.py``, smoothed with sigma 5; its ``meta`` says how)."""

NAMED_PRIORS = {'cifar10mini': DEFAULT_PRIOR}
"""Shipped priors, by the name ``model.head.prior`` may give."""


def save_prior(path: str,
               prior: Tensor,
               bins: Tensor,
               meta: Dict[str, Any],
               counts: Optional[Tensor] = None) -> None:
    """Write the prior (Q,) over the ``bins`` (Q, 2), the JSON-serialisable
    ``meta`` and the raw ``counts`` (Q,) to ``path`` (no suffix added; the folder
    is created; written atomically)."""
    from colorssl.utils.atomic_io import atomic_write_bytes
    prior, bins = np.asarray(_numpy(prior), np.float64), np.asarray(_numpy(bins))
    if prior.ndim != 1 or bins.shape != (prior.shape[0], 2):
        raise ValueError(f'prior must have shape (Q,) and bins (Q, 2), got '
                         f'{prior.shape} and {bins.shape}')
    if not isinstance(meta, dict):
        raise TypeError(f'meta must be a dict, got {type(meta)!r}')
    arrays = dict(
        prior=prior,
        bins=bins.astype(np.float32),
        meta=np.array(json.dumps(meta, sort_keys=True)))
    if counts is not None:
        arrays['counts'] = np.asarray(_numpy(counts)).astype(np.int64)
        if arrays['counts'].shape != prior.shape:
            raise ValueError(f'counts must have shape {prior.shape}, got '
                             f'{arrays["counts"].shape}')
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else x


def load_prior(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """Read a :func:`save_prior` file: ``prior`` (Q,) float64, ``bins`` (Q, 2)
    float32, ``meta`` (dict) and, when stored, ``counts`` (Q,) int64."""
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'prior file {path!r} does not exist; compute one '
                                'with tools/compute_color_prior.py')
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        missing = [k for k in ('prior', 'bins', 'meta') if k not in arrays]
        if missing:
            raise ValueError(f"lacks the keys {missing} of 'prior', 'bins', 'meta' "
                             "(and optionally 'counts'), see save_prior")
        prior, bins = arrays['prior'], arrays['bins']
        if prior.ndim != 1 or bins.shape != (prior.shape[0], 2):
            raise ValueError(f'prior must have shape (Q,) and bins (Q, 2), got '
                             f'{prior.shape} and {bins.shape}')
        meta = json.loads(str(arrays['meta'][()]))
    except (ValueError, OSError) as e:  # json.JSONDecodeError is a ValueError
        raise ValueError(f'prior file {path!r} is not a prior .npz (prior, bins, '
                         f'JSON meta): {e}') from e
    out = dict(
        prior=torch.from_numpy(prior.astype(np.float64)),
        bins=torch.from_numpy(bins.astype(np.float32)),
        meta=meta)
    if 'counts' in arrays:
        out['counts'] = torch.from_numpy(arrays['counts'].astype(np.int64))
    return out


def read_prior(source: str,
               bins: Tensor,
               sigma: Optional[float] = None) -> Tuple[Tensor, int, Optional[Tensor]]:
    """The prior of ``model.head.prior``: a shipped name or a prior file.

    Args:
        source (str): A key of :data:`NAMED_PRIORS` or a :func:`save_prior` file.
        bins (Tensor): (Q, 2) the head's bin centres; the file must match them.
        sigma (float, optional): Smooth the prior with this width when loaded
            (None: the file is already smoothed).

    Returns:
        tuple: the prior (Q,) float32, the number of images it came from (-1:
        unknown) and their mean ab (2,) (None: unknown).
    """
    path = NAMED_PRIORS.get(source, source)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'model.head.prior {path!r} is not a file: give a prior .npz '
            "(tools/compute_color_prior.py), 'auto' (estimate it from the training "
            f'data), one of {sorted(NAMED_PRIORS)} or None (no rebalancing)')
    data = load_prior(path)
    prior = data['prior'].float()
    if prior.numel() != bins.size(0):
        raise ValueError(f'model.head.prior {path!r} has {prior.numel()} bins but '
                         f'model.head.bins gives {bins.size(0)}: compute a prior for '
                         'this bin set with tools/compute_color_prior.py --bins ...')
    if not torch.allclose(data['bins'].float(), bins):
        raise ValueError(f'model.head.prior {path!r} was computed for other bin '
                         'centres than model.head.bins')
    if sigma:
        prior = smooth_prior(prior, bins, sigma=sigma)
    mean_ab = data['meta'].get('mean_ab')
    return (prior, int(data['meta'].get('num_images_used', -1)),
            None if mean_ab is None else torch.as_tensor(mean_ab, dtype=torch.float32))
