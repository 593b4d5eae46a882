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
    """An image file that cannot be read or used; the message names it."""


def pil_to_rgb_array(img: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> (H, W, 3) uint8 RGB.

    Integer gray ('I;16*', 'I') is scaled from 0..65535, float gray ('F') from [0, 1];
    alpha is composited onto white; other modes go through ``convert('RGB')``.

    Raises:
        ValueError: gray values outside those ranges.
    """
    if img.mode.startswith('I;16') or img.mode in ('I', 'F'):
        arr = np.asarray(img, dtype=np.float64)
        top = 1. if img.mode == 'F' else 65535.
        if arr.size and not (np.isfinite(arr).all()
                             and 0 <= arr.min() <= arr.max() <= top):
            raise ValueError(f'{img.mode} image with values outside 0..{top:g}')
        return np.repeat(np.rint(arr * (255. / top)).astype(np.uint8)[..., None], 3, 2)
    if 'A' in img.getbands() or 'transparency' in img.info:
        rgba = np.asarray(img.convert('RGBA'), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.
        return np.rint(rgba[..., :3] * alpha + 255. * (1. - alpha)).astype(np.uint8)
    return np.array(img.convert('RGB'), dtype=np.uint8)  # writable copy


def read_rgb(path) -> np.ndarray:
    """The image file ``path`` (any format, found from the content; whole file
    decoded; EXIF orientation applied) as (H, W, 3) uint8 RGB
    (:func:`pil_to_rgb_array`).

    Raises:
        BadImageError: ``cannot read image file <path>: <reason>``.
    """
    previous, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
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
    """Sorted paths relative to the folder ``root`` of the files below it with an
    :data:`IMAGE_EXTENSIONS` extension (any case; hidden files skipped), none below
    the folder ``exclude`` (unless it is ``root``)."""
    skip = osp.realpath(exclude) + os.sep if exclude else None
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = osp.realpath(dirpath) + os.sep
        if skip and here.startswith(skip) and skip != osp.realpath(root) + os.sep:
            dirnames[:] = []
            continue
        found += [
            osp.relpath(osp.join(dirpath, name), root) for name in filenames
            if not name.startswith('.') and name.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return sorted(found)


_LOADERS = weakref.WeakSet()  # every LoadRGBImage of this process


def skipped_image_count() -> int:
    """Files skipped so far by the ``LoadRGBImage``s of this process and of its
    DataLoader workers."""
    return sum(loader.num_skipped for loader in list(_LOADERS))


@TRANSFORMS.register_module()
class LoadRGBImage(BaseTransform):
    """Load ``results['img_path']`` with :func:`read_rgb` as (H, W, 3) uint8 RGB (for
    ``ColorizationDataPreprocessor(channel_order='rgb')``).

    Args:
        on_error (str): For a bad file (unreadable, or shorter side below
            ``min_size``): ``'raise'`` a :class:`BadImageError` naming it, or
            ``'skip'`` the sample with a warning that names it and the count so far
            in this process (on stderr on ranks other than 0). Defaults to
            ``'raise'``.
        min_size (int): Smallest shorter side accepted. Defaults to 1.

    Added keys: ``img``, ``img_shape``, ``ori_shape``.
    """

    def __init__(self, on_error: str = 'raise', min_size: int = 1):
        if on_error not in ('raise', 'skip'):
            raise ValueError("LoadRGBImage.on_error must be 'raise' or 'skip', got "
                             f'{on_error!r}')
        self.on_error, self.min_size = on_error, int(min_size)
        # One skip counter per process (main: 0, DataLoader worker i: 1 + i % 63) in
        # shared memory, so that the main process sees its workers' skips.
        self._skips = torch.zeros(64, dtype=torch.int64).share_memory_()
        _LOADERS.add(self)

    @property
    def num_skipped(self) -> int:
        """Files skipped by this transform in this process and its workers."""
        return int(self._skips.sum())

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
            worker = torch.utils.data.get_worker_info()
            slot = 0 if worker is None else 1 + worker.id % 63
            self._skips[slot] += 1
            message = (f'LoadRGBImage skipped file {path} ({int(self._skips[slot])} '
                       f'skipped so far in this process): {err}')
            MMLogger.get_current_instance().warning(message)
            rank = os.environ.get('RANK', '0')  # mmengine shows rank 0's log only
            if rank != '0':
                print(f'[rank {rank}] {message}', file=sys.stderr, flush=True)
            return None
        results.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return results
