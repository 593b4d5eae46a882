"""Load any still-image file as 8-bit RGB, with an explicit policy for bad files."""
import os
import sys
import weakref
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageFile


def pil_to_rgb_array(img: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> (H, W, 3) uint8 RGB.

    16-bit and 32-bit integer grayscale ('I;16', 'I') are scaled from their full range
    to 8 bits (PIL's own ``convert('RGB')`` clips them instead); alpha is dropped
    (composited on nothing: the colour channels are kept); palette, CMYK, 1-bit and
    LA images use PIL's conversions.
    """
    if img.mode.startswith('I;16') or img.mode == 'I':
        arr = np.asarray(img).astype(np.float64)
        full = 65535. if img.mode.startswith('I;16') or arr.max() > 255 else 255.
        arr = np.clip(np.round(arr / full * 255.), 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode == 'F':
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.round(arr * (255. if arr.max() <= 1. else 1.)), 0, 255)
        return np.repeat(arr.astype(np.uint8)[..., None], 3, axis=2)
    return np.array(img.convert('RGB'), dtype=np.uint8)  # writable copy


def read_rgb(path: str) -> np.ndarray:
    """Read ``path`` fully as (H, W, 3) uint8 RGB; raise ``OSError`` naming the file."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error
    try:
        with Image.open(path) as img:
            img.load()
            return pil_to_rgb_array(img)
    except (OSError, ValueError, SyntaxError) as err:
        raise OSError(f'cannot read image file {path}: {err}') from err
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


# Skip counters: one slot for the main process and one per DataLoader worker (worker
# ids beyond the last slot share slots), in shared memory, so that the main process
# sees the skips of its workers (forked or spawned: torch shares the storage).
_COUNTER_SLOTS = 64
_LOADERS = weakref.WeakSet()  # every LoadRGBImage of this process


def skipped_image_count() -> int:
    """Images skipped so far by every ``LoadRGBImage(on_error='skip')`` of this
    process and of its DataLoader workers (each skip of a file counts once)."""
    return sum(loader.num_skipped for loader in list(_LOADERS))


@TRANSFORMS.register_module()
class LoadRGBImage(BaseTransform):
    """Load ``results['img_path']`` as uint8 RGB (H, W, 3).

    Unlike mmcv's ``LoadImageFromFile`` (BGR, cv2) the channel order is RGB and every
    PIL mode is handled (grayscale, 16-bit, palette, RGBA, CMYK). Pair it with
    ``ColorizationDataPreprocessor(channel_order='rgb')``.

    Args:
        on_error (str): ``'raise'`` (default): a corrupt or truncated file raises an
            error naming it. ``'skip'``: the sample is dropped (the dataset then
            draws another one), a warning names the file and the running count of
            skipped files in this process (on ranks other than 0, whose warnings
            mmengine does not show, it goes to stderr). The counts of all
            DataLoader workers reach the main process (:func:`skipped_image_count`);
            :class:`colorssl.engine.hooks.SkippedImagesHook` logs them summed over
            ranks. A file drawn again is counted again.

    Added keys: ``img``, ``img_shape``, ``ori_shape``.
    """

    def __init__(self, on_error: str = 'raise'):
        if on_error not in ('raise', 'skip'):
            raise ValueError("LoadRGBImage.on_error must be 'raise' or 'skip', got "
                             f'{on_error!r}')
        self.on_error = on_error
        self._skips = torch.zeros(_COUNTER_SLOTS, dtype=torch.int64).share_memory_()
        _LOADERS.add(self)

    @property
    def num_skipped(self) -> int:
        """Files skipped by this transform in this process and its workers."""
        return int(self._skips.sum())

    def _count_skip(self) -> int:
        """Count one skip in this process's slot; return this process's count."""
        worker = torch.utils.data.get_worker_info()
        slot = 0 if worker is None else 1 + worker.id % (_COUNTER_SLOTS - 1)
        self._skips[slot] += 1
        return int(self._skips[slot])

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            img = read_rgb(path)
        except OSError as err:
            if self.on_error == 'raise':
                raise OSError(f'{err} (set on_error=\'skip\' in LoadRGBImage to skip '
                              'unreadable files)') from err
            count = self._count_skip()
            message = (f'LoadRGBImage skipped unreadable file {path} '
                       f'({count} skipped so far in this process): {err}')
            MMLogger.get_current_instance().warning(message)
            # mmengine shows the warnings of rank 0 only; name the file anyway.
            rank = os.environ.get('RANK', '0')  # set by torchrun/slurm, workers too
            if rank != '0':
                print(f'[rank {rank}] {message}', file=sys.stderr, flush=True)
            return None
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(on_error={self.on_error!r})'
