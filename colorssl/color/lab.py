"""sRGB <-> CIE Lab (D65) conversion in pure torch.

The constants follow the sRGB standard (IEC 61966-2-1) and the CIE 1976
L*a*b* definition with the D65 reference white and the 2 degree observer, the
same choices :func:`skimage.color.rgb2lab` makes, so that the two agree to
numerical precision. All functions work on any device, in float32 or float64,
on batched images whose colour channel is the third-to-last dimension.

The 3x3 colour matrices are applied as sums of per-channel products (no
matmul) and the curves (``pow``, cube root) run on fixed pieces
(:mod:`.pieces`), so on CPU the result has the same bits for any thread count.
The piecewise curves evaluate both branches on clamped inputs, so that no
``inf``/``nan`` gradient leaks from the branch that is not selected.
"""
from typing import Sequence

import torch
from torch import Tensor

from .pieces import pointwise

# Linear sRGB -> CIE XYZ (D65), rows give X, Y, Z.
_XYZ_FROM_RGB = torch.tensor([[0.412453, 0.357580, 0.180423],
                              [0.212671, 0.715160, 0.072169],
                              [0.019334, 0.119193, 0.950227]],
                             dtype=torch.float64)
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
# Rows X/Xn, Y/Yn, Z/Zn; and its inverse, from white-relative XYZ to sRGB.
_TO_XYZ = (_XYZ_FROM_RGB / _WHITE_D65[:, None]).tolist()
_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB / _WHITE_D65[:, None]).tolist()

_SRGB_THRESHOLD = 0.04045  # decoding; 0.0031308 after encoding
_LAB_EPSILON = 0.008856  # f(t) = t^(1/3) above, linear below
_LAB_SLOPE = 7.787
_LAB_OFFSET = 16.0 / 116.0


def _check_image(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(x)!r}')
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f'{name} must have shape (..., 3, H, W), '
                         f'got {tuple(x.shape)}')
    if not x.is_floating_point():
        raise TypeError(f'{name} must be a floating point tensor '
                        f'(float32 or float64), got {x.dtype}')


def _mix(mat: Sequence[Sequence[float]], channels: Sequence[Tensor]) -> Tensor:
    """``mat @ channels`` over the channel dim (-3), one product at a time."""
    c0, c1, c2 = channels
    return torch.stack([c0 * m0 + c1 * m1 + c2 * m2 for m0, m1, m2 in mat], dim=-3)


def _srgb_to_linear(v: Tensor) -> Tensor:
    high = ((v.clamp_min(_SRGB_THRESHOLD) + 0.055) / 1.055)**2.4
    return torch.where(v > _SRGB_THRESHOLD, high, v / 12.92)


def _linear_to_srgb(v: Tensor) -> Tensor:
    high = 1.055 * v.clamp_min(0.0031308)**(1.0 / 2.4) - 0.055
    return torch.where(v > 0.0031308, high, v * 12.92)


def _lab_f(t: Tensor) -> Tensor:
    cube_root = t.clamp_min(_LAB_EPSILON)**(1.0 / 3.0)
    return torch.where(t > _LAB_EPSILON, cube_root, t * _LAB_SLOPE + _LAB_OFFSET)


def _lab_from_relative_xyz(xyz: Tensor) -> Tensor:
    """XYZ divided by the white point, (..., 3, H, W) -> Lab."""
    fx, fy, fz = pointwise(_lab_f, xyz).unbind(dim=-3)
    return torch.stack((fy * 116.0 - 16.0, (fx - fy) * 500.0, (fy - fz) * 200.0),
                       dim=-3)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """Convert sRGB images to CIE Lab (D65). Differentiable.

    Args:
        rgb (Tensor): sRGB values in ``[0, 1]``, shape ``(..., 3, H, W)``,
            float32 or float64, on any device.

    Returns:
        Tensor: Lab values with the same shape, dtype and device. ``L`` lies
        in ``[0, 100]``; ``a`` and ``b`` roughly in ``[-128, 128]``.
    """
    _check_image(rgb, 'rgb')
    linear = pointwise(_srgb_to_linear, rgb)
    return _lab_from_relative_xyz(_mix(_TO_XYZ, linear.unbind(dim=-3)))


def rgb8_to_lab(rgb: Tensor,
                dtype: torch.dtype = torch.float32,
                channel_order: str = 'rgb') -> Tensor:
    """Convert 8-bit sRGB images to CIE Lab (D65).

    The same conversion as ``rgb_to_lab(rgb / 255)``, with the sRGB curve
    looked up in a 256-entry table computed in float64.

    Args:
        rgb (Tensor): uint8 images, shape ``(..., 3, H, W)``, on any device.
        dtype (torch.dtype): Floating point type of the result.
            Defaults to float32.
        channel_order (str): ``'rgb'`` or ``'bgr'``, the order of the three
            channels of ``rgb``. Defaults to ``'rgb'``.

    Returns:
        Tensor: Lab of shape ``rgb.shape``, in ``dtype``, on ``rgb.device``.
    """
    if not isinstance(rgb, Tensor) or rgb.dtype != torch.uint8:
        raise TypeError('rgb8_to_lab expects a uint8 torch.Tensor, got '
                        f'{getattr(rgb, "dtype", type(rgb))}')
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f'rgb must have shape (..., 3, H, W), '
                         f'got {tuple(rgb.shape)}')
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', "
                         f'got {channel_order!r}')
    table = _srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255.0)
    table = table.to(device=rgb.device, dtype=dtype)
    linear = table.index_select(0, rgb.reshape(-1).int()).view(rgb.shape)
    channels = linear.unbind(dim=-3)
    if channel_order == 'bgr':
        channels = channels[::-1]
    return _lab_from_relative_xyz(_mix(_TO_XYZ, channels))


def lab_to_rgb(lab: Tensor, clip: bool = True) -> Tensor:
    """Convert CIE Lab (D65) images back to sRGB. Differentiable.

    Args:
        lab (Tensor): Lab values, shape ``(..., 3, H, W)``, float32 or
            float64, on any device.
        clip (bool): Clip the result to ``[0, 1]``. Lab colours outside the
            sRGB gamut map to values outside ``[0, 1]`` otherwise (negative
            linear values are continued by the linear segment of the sRGB
            curve). Defaults to True, matching :func:`skimage.color.lab2rgb`.

    Returns:
        Tensor: sRGB values with the same shape, dtype and device.
    """
    _check_image(lab, 'lab')
    lum, a, b = lab.unbind(dim=-3)
    fy = (lum + 16.0) / 116.0
    # Negative f has no physical meaning (negative Z); clamp it like skimage.
    f = (fy + a / 500.0, fy, (fy - b / 200.0).clamp_min(0.0))
    # Inverse of _lab_f; f(EPSILON) = 0.2068966 is where its branches meet.
    xyz = [
        torch.where(v > 0.2068966, v * v * v, (v - _LAB_OFFSET) / _LAB_SLOPE) for v in f
    ]
    rgb = pointwise(_linear_to_srgb, _mix(_FROM_XYZ, xyz))
    return rgb.clamp(0.0, 1.0) if clip else rgb
