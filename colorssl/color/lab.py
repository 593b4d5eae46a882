"""sRGB <-> CIE Lab (D65) in pure torch, as :func:`skimage.color.rgb2lab`
computes it (IEC 61966-2-1 sRGB, CIE 1976 L*a*b*, D65 white, 2 degree observer).

Images are (..., 3, H, W), float32 or float64, on any device. The piecewise
curves evaluate both branches on clamped inputs, so no inf/nan gradient leaks
from the branch that is not selected.
"""
from typing import Sequence

import torch
from torch import Tensor

# Linear sRGB -> CIE XYZ (D65), rows X, Y, Z; divided by the white point, and the
# inverse (white-relative XYZ -> linear sRGB).
_XYZ_FROM_RGB = torch.tensor([[0.412453, 0.357580, 0.180423],
                              [0.212671, 0.715160, 0.072169],
                              [0.019334, 0.119193, 0.950227]],
                             dtype=torch.float64)
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_TO_XYZ = (_XYZ_FROM_RGB / _WHITE_D65[:, None]).tolist()
_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB / _WHITE_D65[:, None]).tolist()
_LAB_EPSILON = 0.008856  # f(t) = t^(1/3) above, 7.787 t + 16 / 116 below
_LAB_OFFSET = 16.0 / 116.0


def _check_image(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(x)!r}')
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f'{name} must have shape (..., 3, H, W), got {tuple(x.shape)}')
    if not x.is_floating_point():
        raise TypeError(f'{name} must be a floating point tensor, got {x.dtype}')


def _mix(mat: Sequence[Sequence[float]], channels: Sequence[Tensor]) -> Tensor:
    """``mat @ channels`` over the channel dim (-3)."""
    c0, c1, c2 = channels
    return torch.stack([c0 * m0 + c1 * m1 + c2 * m2 for m0, m1, m2 in mat], dim=-3)


def _srgb_to_linear(v: Tensor) -> Tensor:
    high = ((v.clamp_min(0.04045) + 0.055) / 1.055)**2.4
    return torch.where(v > 0.04045, high, v / 12.92)


def _lab_from_relative_xyz(xyz: Tensor) -> Tensor:
    """XYZ divided by the white point, (..., 3, H, W) -> Lab."""
    cube_root = xyz.clamp_min(_LAB_EPSILON)**(1.0 / 3.0)
    f = torch.where(xyz > _LAB_EPSILON, cube_root, xyz * 7.787 + _LAB_OFFSET)
    fx, fy, fz = f.unbind(dim=-3)
    return torch.stack((fy * 116.0 - 16.0, (fx - fy) * 500.0, (fy - fz) * 200.0),
                       dim=-3)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1] (..., 3, H, W) -> Lab of the same shape, dtype and device
    (L in [0, 100], a and b roughly in [-128, 128]). Differentiable."""
    _check_image(rgb, 'rgb')
    return _lab_from_relative_xyz(_mix(_TO_XYZ, _srgb_to_linear(rgb).unbind(-3)))


def rgb8_to_lab(rgb: Tensor,
                dtype: torch.dtype = torch.float32,
                channel_order: str = 'rgb') -> Tensor:
    """``rgb_to_lab(rgb / 255)`` of uint8 images, the sRGB curve read from a
    256-entry float64 table.

    Args:
        rgb (Tensor): uint8 images (..., 3, H, W).
        dtype (torch.dtype): Float type of the result. Defaults to float32.
        channel_order (str): ``'rgb'`` or ``'bgr'``. Defaults to ``'rgb'``.

    Returns:
        Tensor: Lab (..., 3, H, W) in ``dtype`` on ``rgb.device``.
    """
    if not isinstance(rgb, Tensor) or rgb.dtype != torch.uint8:
        raise TypeError('rgb8_to_lab expects a uint8 torch.Tensor, got '
                        f'{getattr(rgb, "dtype", type(rgb))}')
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f'rgb must have shape (..., 3, H, W), got {tuple(rgb.shape)}')
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    table = _srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255.0)
    table = table.to(device=rgb.device, dtype=dtype)
    channels = table[rgb.long()].unbind(dim=-3)
    if channel_order == 'bgr':
        channels = channels[::-1]
    return _lab_from_relative_xyz(_mix(_TO_XYZ, channels))


def lab_to_rgb(lab: Tensor, clip: bool = True) -> Tensor:
    """Lab (..., 3, H, W) -> sRGB of the same shape, dtype and device.
    Differentiable.

    Args:
        lab (Tensor): Lab images, float32 or float64.
        clip (bool): Clip to [0, 1] as :func:`skimage.color.lab2rgb` does; else
            out-of-gamut colours leave [0, 1]. Defaults to True.
    """
    _check_image(lab, 'lab')
    lum, a, b = lab.unbind(dim=-3)
    fy = (lum + 16.0) / 116.0
    # Negative f has no physical meaning (negative Z); clamp it like skimage.
    f = (fy + a / 500.0, fy, (fy - b / 200.0).clamp_min(0.0))
    # f(_LAB_EPSILON) = 0.2068966 is where the branches of f meet.
    xyz = [torch.where(v > 0.2068966, v * v * v, (v - _LAB_OFFSET) / 7.787) for v in f]
    v = _mix(_FROM_XYZ, xyz)
    rgb = torch.where(v > 0.0031308, 1.055 * v.clamp_min(0.0031308)**(1 / 2.4) - 0.055,
                      v * 12.92)
    return rgb.clamp(0.0, 1.0) if clip else rgb
