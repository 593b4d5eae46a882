"""Grayscale images for fine-tuning a colorization backbone on gray input."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from colorssl.color.lab import rgb_to_lab


def lightness_gray(img: np.ndarray, channel_order: str = 'bgr') -> np.ndarray:
    """(H, W, 3) colour image -> (H, W) gray ``255 * L / 100`` (float64).

    Args:
        img (ndarray): uint8 in [0, 255] or float in [0, 255], ``channel_order``.
        channel_order (str): ``'bgr'`` (mmcv's ``LoadImageFromFile``) or ``'rgb'``.

    Returns:
        ndarray: (H, W) CIE lightness of each pixel, scaled from [0, 100] to [0, 255]
        (:func:`colorssl.models.transfer.gray_fit` maps it back to L exactly).
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'RGBToGray expects an (H, W, 3) image, got shape {img.shape}')
    rgb = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)) / 255.
    if channel_order == 'bgr':
        rgb = rgb.flip(-1)
    lum = rgb_to_lab(rgb.permute(2, 0, 1).clamp(0., 1.))[0]
    return lum.double().numpy() * 2.55


@TRANSFORMS.register_module()
class RGBToGray(BaseTransform):
    """Replace a colour image by its lightness, ``255 * L / 100``, in every channel.

    The colorization network saw ``(L - l_cent) / l_norm``. After this transform every
    channel holds ``p = 255 * L / 100``, so a stem converted with ``input='gray'`` and
    the data preprocessor's mean/std reproduces the network's input exactly (up to
    the rounding of ``p`` to 8 bits, at most 0.2 L units).

    Required keys: ``img``. Modified keys: ``img`` (same dtype; uint8 is rounded).

    Args:
        num_channels (int): 3 gives an (H, W, 3) image with equal channels (for
            ``in_channels=3`` backbones); 1 an (H, W) image (2-D, as cv2 and PIL keep
            one-channel images; ``PackInputs`` adds the channel axis). Defaults to 3.
        channel_order (str): Channel order of the input image, ``'bgr'`` (mmcv's
            ``LoadImageFromFile``) or ``'rgb'`` (colorssl's ``LoadRGBImage``).
            Defaults to ``'bgr'``.
    """

    def __init__(self, num_channels: int = 3, channel_order: str = 'bgr'):
        if num_channels not in (1, 3):
            raise ValueError('RGBToGray: num_channels must be 1 or 3, got '
                             f'{num_channels!r}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError("RGBToGray: channel_order must be 'bgr' or 'rgb', got "
                             f'{channel_order!r}')
        self.num_channels = num_channels
        self.channel_order = channel_order

    def transform(self, results: dict) -> dict:
        img = results['img']
        gray = lightness_gray(img, self.channel_order)
        if img.dtype == np.uint8:
            gray = np.clip(np.round(gray), 0, 255).astype(np.uint8)
        else:
            gray = gray.astype(img.dtype)
        if self.num_channels == 3:
            gray = np.repeat(gray[..., None], 3, axis=2)
        results['img'] = gray
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_channels={self.num_channels}, '
                f'channel_order={self.channel_order!r})')
