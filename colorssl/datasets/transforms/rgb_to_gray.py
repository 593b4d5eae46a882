"""Grayscale images for fine-tuning a colorization backbone on gray input."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from colorssl.color import rgb_to_lab


def lightness_gray(img: np.ndarray, channel_order: str = 'bgr') -> np.ndarray:
    """(H, W, 3) colour image, values in [0, 255] -> (H, W) float64 ``255 * L / 100``,
    L the CIE lightness."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'RGBToGray expects an (H, W, 3) image, got shape {img.shape}')
    rgb = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)) / 255.
    rgb = rgb.flip(-1) if channel_order == 'bgr' else rgb
    return rgb_to_lab(rgb.permute(2, 0, 1).clamp(0., 1.))[0].double().numpy() * 2.55


@TRANSFORMS.register_module()
class RGBToGray(BaseTransform):
    """Replace ``results['img']`` by :func:`lightness_gray` (same dtype; uint8 is
    rounded): a stem converted with ``input='gray'``
    (:func:`colorssl.models.transfer.gray_fit`) then sees the L of pretraining.

    Args:
        num_channels (int): 3: (H, W, 3) with equal channels; 1: (H, W).
            Defaults to 3.
        channel_order (str): Of the input: ``'bgr'`` (``LoadImageFromFile``) or
            ``'rgb'`` (``LoadRGBImage``). Defaults to ``'bgr'``.
    """

    def __init__(self, num_channels: int = 3, channel_order: str = 'bgr'):
        if num_channels not in (1, 3):
            raise ValueError(
                f'RGBToGray: num_channels must be 1 or 3, got {num_channels}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError("RGBToGray: channel_order must be 'bgr' or 'rgb', got "
                             f'{channel_order!r}')
        self.num_channels = num_channels
        self.channel_order = channel_order

    def transform(self, results: dict) -> dict:
        img = results['img']
        gray = lightness_gray(img, self.channel_order)
        if img.dtype == np.uint8:
            gray = np.clip(np.round(gray), 0, 255)
        gray = gray.astype(img.dtype)
        results['img'] = np.repeat(gray[...,
                                        None], 3, 2) if self.num_channels == 3 else gray
        return results
