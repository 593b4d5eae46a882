"""Read any still-image file as 8-bit RGB; the loading transform with a bad-file
policy."""
import os
import os.path as osp
import sys
import weakref
from typing import List, Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageFile, ImageOps

# mmpretrain's CustomDataset extensions, plus .tiff and .webp.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff',
                    '.webp')


class BadImageError(OSError):
    """An image file that cannot be read (or used); the message names the file and
    the reason."""


def pil_to_rgb_array(img: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> (H, W, 3) uint8 RGB.

    Integer grayscale ('I;16*', 'I') is scaled from 0..65535 and float grayscale
    ('F') from [0, 1] to 0..255, rounded (PIL's ``convert('RGB')`` clips instead);
    alpha (an 'A' band or a transparent colour) is composited onto white; every other
    mode (palette, CMYK, YCbCr, 1-bit ...) is converted by ``convert('RGB')``.

    Raises:
        ValueError: integer values outside 0..65535, float values outside [0, 1].
    """
    if img.mode.startswith('I;16') or img.mode in ('I', 'F'):
        arr = np.asarray(img, dtype=np.float64)
        top = 1. if img.mode == 'F' else 65535.
        if arr.size and not (np.isfinite(arr).all() and 0 <= arr.min()
                             and arr.max() <= top):
            raise ValueError(f'{img.mode} image with values outside 0..{top:g}')
        gray = np.rint(arr * (255. / top)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if 'A' in img.getbands() or 'transparency' in img.info:
        rgba = np.asarray(img.convert('RGBA'), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.
        return np.rint(rgba[..., :3] * alpha + 255. * (1. - alpha)).astype(np.uint8)
    return np.array(img.convert('RGB'), dtype=np.uint8)  # writable copy


def read_rgb(path) -> np.ndarray:
    """Read the image file ``path`` as (H, W, 3) uint8 RGB (:func:`pil_to_rgb_array`).

    The format is found from the content, not the extension; the whole file is
    decoded (a truncated file is an error) and its EXIF orientation is applied.

    Raises:
        BadImageError: naming the file and the reason (missing, a directory, empty,
            not an image, truncated, corrupt, unsupported mode or values).
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        if osp.isdir(path):
            raise ValueError('it is a directory')
        if osp.isfile(path) and osp.getsize(path) == 0:
            raise ValueError('empty file (0 bytes)')
        with Image.open(path) as img:
            img.load()
            try:
                if img.getexif().get(0x0112, 1) != 1:  # EXIF orientation
                    img = ImageOps.exif_transpose(img)
            except Exception:  # a broken EXIF block: keep the pixels as stored
                pass
            return pil_to_rgb_array(img)
    except Exception as err:  # PIL raises many types for broken files
        reason = str(err) if type(err) is ValueError else f'{type(err).__name__}: {err}'
        raise BadImageError(f'cannot read image file {path}: {reason}') from err
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def find_images(root: str, exclude: Optional[str] = None) -> List[str]:
    """Files below the folder ``root`` with an :data:`IMAGE_EXTENSIONS` extension (any
    case; hidden files skipped, as mmpretrain's ``CustomDataset`` does), as sorted
    paths relative to ``root``. A folder named like an image is searched as a folder.
    Nothing below the folder ``exclude`` is listed (unless it is ``root``)."""
    skip = osp.realpath(exclude) + os.sep if exclude else None
    if skip == osp.realpath(root) + os.sep:
        skip = None
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if skip and (osp.realpath(dirpath) + os.sep).startswith(skip):
            dirnames[:] = []
            continue
        found += [
            osp.relpath(osp.join(dirpath, name), root) for name in filenames
            if not name.startswith('.') and name.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return sorted(found)


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
    """Load ``results['img_path']`` as uint8 RGB (H, W, 3) with :func:`read_rgb`.

    Unlike mmcv's ``LoadImageFromFile`` (BGR, cv2) the channel order is RGB and every
    PIL mode is handled (grayscale, 16-bit, palette, RGBA, CMYK). Pair it with
    ``ColorizationDataPreprocessor(channel_order='rgb')``.

    Args:
        on_error (str): What happens to a bad file (unreadable, or smaller than
            ``min_size``). ``'raise'`` (default): a :class:`BadImageError` naming it.
            ``'skip'``: the sample is dropped (the dataset then draws another one),
            a warning names the file, the reason and the running count of skipped
            files in this process (on ranks other than 0, whose warnings mmengine
            does not show, it goes to stderr). The counts of all DataLoader workers
            reach the main process (:func:`skipped_image_count`);
            :class:`colorssl.engine.hooks.SkippedImagesHook` logs them summed over
            ranks. A file drawn again is counted again.
        min_size (int): Smallest shorter side (pixels) accepted, e.g. the size of a
            crop that cannot upsample. Defaults to 1 (any image).

    Added keys: ``img``, ``img_shape``, ``ori_shape``.
    """

    def __init__(self, on_error: str = 'raise', min_size: int = 1):
        if on_error not in ('raise', 'skip'):
            raise ValueError("LoadRGBImage.on_error must be 'raise' or 'skip', got "
                             f'{on_error!r}')
        self.on_error = on_error
        self.min_size = int(min_size)
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
            if min(img.shape[:2]) < self.min_size:
                raise BadImageError(f'image file {path} is {img.shape[0]}x'
                                    f'{img.shape[1]} (HxW) pixels, below LoadRGBImage '
                                    f'min_size={self.min_size} (shorter side)')
        except BadImageError as err:
            if self.on_error == 'raise':
                raise BadImageError(f"{err} (set on_error='skip' in LoadRGBImage to "
                                    'skip such files)') from err
            count = self._count_skip()
            message = (f'LoadRGBImage skipped file {path} '
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
        return (f'{self.__class__.__name__}(on_error={self.on_error!r}, '
                f'min_size={self.min_size})')
