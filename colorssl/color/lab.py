"""sRGB <-> CIE Lab (D65) conversion in pure torch.

The constants follow the sRGB standard (IEC 61966-2-1) and the CIE 1976
L*a*b* definition with the D65 reference white and the 2 degree observer, the
same choices :func:`skimage.color.rgb2lab` makes, so that the two agree to
numerical precision. All functions work on any device, in float32 or float64,
on batched images whose colour channel is the third-to-last dimension, and are
differentiable (the piecewise branches are evaluated on clamped inputs so that
no ``inf``/``nan`` gradient leaks from the branch that is not selected).
"""
import functools
from typing import Tuple

import torch
from torch import Tensor

from . import cpu_kernels

# Linear sRGB -> CIE XYZ (D65), rows give X, Y, Z.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# D65 reference white, 2 degree observer.
_WHITE_D65 = (0.95047, 1.0, 1.08883)

# sRGB transfer function.
_SRGB_DECODE_THRESHOLD = 0.04045
_SRGB_ENCODE_THRESHOLD = 0.0031308
_SRGB_GAMMA = 2.4
_SRGB_SLOPE = 12.92
_SRGB_OFFSET = 0.055

# CIE Lab companding: f(t) = t^(1/3) above EPSILON, linear below.
_LAB_EPSILON = 0.008856
_LAB_KAPPA_SLOPE = 7.787
_LAB_OFFSET = 16.0 / 116.0
# f(EPSILON), the switch point of the inverse.
_LAB_INV_THRESHOLD = 0.2068966


def _check_image(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(x)!r}')
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f'{name} must have shape (..., 3, H, W), '
                         f'got {tuple(x.shape)}')
    if not x.is_floating_point():
        raise TypeError(f'{name} must be a floating point tensor '
                        f'(float32 or float64), got {x.dtype}')


_XYZ_FROM_RGB_T = torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64)
_RGB_FROM_XYZ_T = torch.linalg.inv(_XYZ_FROM_RGB_T)


def _matrices(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Return (xyz_from_rgb, rgb_from_xyz) in the dtype/device of ``x``."""
    return (_XYZ_FROM_RGB_T.to(device=x.device, dtype=x.dtype),
            _RGB_FROM_XYZ_T.to(device=x.device, dtype=x.dtype))


def _channel_matmul(mat: Tensor, x: Tensor) -> Tensor:
    """Apply a (3, 3) matrix to the channel dim (-3) of ``x``."""
    return torch.einsum('ij,...jhw->...ihw', mat, x)


def _white(x: Tensor) -> Tensor:
    return torch.tensor(_WHITE_D65, dtype=x.dtype,
                        device=x.device).view(3, 1, 1)


def srgb_to_linear(rgb: Tensor) -> Tensor:
    """Undo the sRGB transfer function (gamma-expand), elementwise."""
    high = ((rgb.clamp_min(_SRGB_DECODE_THRESHOLD) + _SRGB_OFFSET) /
            (1.0 + _SRGB_OFFSET))**_SRGB_GAMMA
    return torch.where(rgb > _SRGB_DECODE_THRESHOLD, high, rgb / _SRGB_SLOPE)


def linear_to_srgb(lin: Tensor) -> Tensor:
    """Apply the sRGB transfer function (gamma-compress), elementwise."""
    high = (1.0 + _SRGB_OFFSET) * lin.clamp_min(_SRGB_ENCODE_THRESHOLD)**(
        1.0 / _SRGB_GAMMA) - _SRGB_OFFSET
    return torch.where(lin > _SRGB_ENCODE_THRESHOLD, high, lin * _SRGB_SLOPE)


def _lab_f(t: Tensor) -> Tensor:
    # exp2(log2(t) / 3) is the cube root to rounding (1 ulp in float32) and
    # about 3x faster than pow(t, 1/3) on CPU.
    cube_root = torch.exp2(torch.log2(t.clamp_min(_LAB_EPSILON)) / 3.0)
    return torch.where(t > _LAB_EPSILON, cube_root,
                       _LAB_KAPPA_SLOPE * t + _LAB_OFFSET)


def _lab_f_inv(f: Tensor) -> Tensor:
    return torch.where(f > _LAB_INV_THRESHOLD, f**3,
                       (f - _LAB_OFFSET) / _LAB_KAPPA_SLOPE)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """Convert sRGB images to CIE Lab (D65).

    Args:
        rgb (Tensor): sRGB values in ``[0, 1]``, shape ``(..., 3, H, W)``,
            float32 or float64, on any device.

    Returns:
        Tensor: Lab values with the same shape, dtype and device. ``L`` lies
        in ``[0, 100]``; ``a`` and ``b`` roughly in ``[-128, 128]``.
    """
    _check_image(rgb, 'rgb')
    xyz_from_rgb, _ = _matrices(rgb)
    xyz = _channel_matmul(xyz_from_rgb, srgb_to_linear(rgb)) / _white(rgb)
    fx, fy, fz = _lab_f(xyz).unbind(dim=-3)
    lum = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return torch.stack((lum, a, b), dim=-3)


@functools.lru_cache(maxsize=None)
def _uint8_tables(dtype: torch.dtype, device: str) -> Tuple[Tensor, Tensor]:
    """(256,) linear value of each 8-bit code, and the (3, 3) matrix from
    linear sRGB to XYZ divided by the reference white (rows X/Xn, Y/Yn,
    Z/Zn), both computed in float64 and cast once."""
    codes = torch.arange(256, dtype=torch.float64) / 255.0
    lut = srgb_to_linear(codes)
    white = torch.tensor(_WHITE_D65, dtype=torch.float64)
    mat = _XYZ_FROM_RGB_T / white[:, None]
    return (lut.to(device=device, dtype=dtype),
            mat.to(device=device, dtype=dtype))


def rgb8_to_lab(rgb: Tensor, dtype: torch.dtype = torch.float32,
                channel_order: str = 'rgb') -> Tensor:
    """Convert 8-bit sRGB images to CIE Lab (D65), the fast way.

    The same conversion as ``rgb_to_lab(rgb / 255)``, in fewer passes: the sRGB
    curve is a 256-entry table (computed in float64), the reference white is
    folded into the matrix and the matrix is one batched matmul. On CPU, for
    float32, one fused kernel does it all in a single pass
    (:mod:`colorssl.color.cpu_kernels`). Not differentiable (8-bit input has
    no gradient).

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
    lut, mat = _uint8_tables(dtype, str(rgb.device))
    if channel_order == 'bgr':
        mat = mat.flip(1)
    shape = rgb.shape
    batch = 1
    for size in shape[:-3]:
        batch *= size
    flat = rgb.reshape(batch, 3, shape[-2] * shape[-1])
    if (rgb.device.type == 'cpu' and dtype == torch.float32
            and cpu_kernels.enabled()):
        # One fused, vectorised pass per pixel (same tables and maths).
        out = cpu_kernels.rgb8_to_lab_cpu(flat, lut, mat)
        return out.view(shape[:-3] + (3, ) + shape[-2:])
    # (B, 3, P) linear values, then (3, 3) @ (B, 3, P): X/Xn, Y/Yn, Z/Zn.
    lin = lut.index_select(0, flat.reshape(-1).to(torch.int32)).view(
        flat.shape)
    t = torch.matmul(mat, lin)
    cube_root = t.clamp_min(_LAB_EPSILON).log2_().mul_(1.0 / 3.0).exp2_()
    f = torch.where(t > _LAB_EPSILON, cube_root,
                    t.mul_(_LAB_KAPPA_SLOPE).add_(_LAB_OFFSET))
    fx, fy, fz = f.unbind(1)
    out = torch.empty_like(f)
    torch.mul(fy, 116.0, out=out[:, 0]).sub_(16.0)
    torch.sub(fx, fy, out=out[:, 1]).mul_(500.0)
    torch.sub(fy, fz, out=out[:, 2]).mul_(200.0)
    return out.view(shape[:-3] + (3, ) + shape[-2:])


def lab_to_rgb(lab: Tensor, clip: bool = True) -> Tensor:
    """Convert CIE Lab (D65) images back to sRGB.

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
    fx = fy + a / 500.0
    # Negative f has no physical meaning (negative Z); clamp it like skimage.
    fz = (fy - b / 200.0).clamp_min(0.0)
    xyz = _lab_f_inv(torch.stack((fx, fy, fz), dim=-3)) * _white(lab)
    _, rgb_from_xyz = _matrices(lab)
    rgb = linear_to_srgb(_channel_matmul(rgb_from_xyz, xyz))
    if clip:
        rgb = rgb.clamp(0.0, 1.0)
    return rgb
