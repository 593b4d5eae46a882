"""Fold the RGB -> L map into the first convolution of an L-input network.

A conv ``W`` (O, 1, k, k) on ``x_L = (L - l_cent) / l_norm``, with L affine in the
pixels (``L ~= sum_c fit[c] * p_c / pixel_max + fit[C]``), equals a conv with
``W_c = W * fit[c] * std_c / (pixel_max * l_norm)`` on ``x_c = (p_c - mean_c) / std_c``
plus a per-output-channel constant; exact away from the zero-padded border. L is not
affine in sRGB: :func:`fit_srgb_to_lightness` gives the least-squares fit, and for
``RGBToGray`` input :func:`gray_fit` is exact. Derivation and fit errors:
``docs/transfer.md``.
"""
from functools import lru_cache
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from colorssl.color.lab import rgb_to_lab

FitLike = Union[Tensor, Sequence[float]]


@lru_cache(maxsize=4)
def _cube_fit(num_steps: int) -> Tuple[float, ...]:
    grid = torch.linspace(0., 1., num_steps, dtype=torch.float64)
    r, g, b = torch.meshgrid(grid, grid, grid, indexing='ij')
    rgb = torch.stack((r, g, b), dim=-1).reshape(-1, 3)
    return tuple(_lstsq_fit(rgb).tolist())


def _lstsq_fit(rgb: Tensor) -> Tensor:
    """(N, 3) sRGB in [0, 1] -> (4,) least-squares coefficients of L."""
    lum = rgb_to_lab(rgb.T.reshape(3, -1, 1))[0].reshape(-1)
    design = torch.cat((rgb, torch.ones_like(rgb[:, :1])), dim=1)
    return torch.linalg.lstsq(design, lum[:, None]).solution[:, 0]


def fit_srgb_to_lightness(num_steps: int = 64,
                          samples: Optional[Tensor] = None) -> Tensor:
    """Least-squares affine fit of CIE L (0..100) on sRGB (0..1).

    Args:
        num_steps (int): Grid steps per axis of the RGB cube (``num_steps ** 3``
            colours) when ``samples`` is None. Defaults to 64.
        samples (Tensor, optional): (N, 3) sRGB colours in [0, 1] to fit on instead
            (e.g. pixels of natural images).

    Returns:
        Tensor: (4,) float64 ``(w_r, w_g, w_b, c)`` with ``L ~= w . rgb + c``.
    """
    if samples is not None:
        if samples.dim() != 2 or samples.size(1) != 3 or samples.size(0) < 4:
            raise ValueError('fit_srgb_to_lightness: samples must have shape (N, 3) '
                             f'with N >= 4, got {tuple(samples.shape)}')
        return _lstsq_fit(samples.to(torch.float64))
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f'fit_srgb_to_lightness: num_steps must be an int >= 2, '
                         f'got {num_steps!r}')
    return torch.tensor(_cube_fit(num_steps), dtype=torch.float64)


def gray_fit(num_channels: int) -> Tensor:
    """Exact map for gray input with ``p_c = pixel_max * L / 100`` in every channel.

    Returns:
        Tensor: (num_channels + 1,) float64 ``(100 / C, ..., 100 / C, 0)``.
    """
    if isinstance(num_channels, bool) or not isinstance(num_channels, int) \
            or num_channels < 1:
        raise ValueError(f'gray_fit: num_channels must be an int >= 1, '
                         f'got {num_channels!r}')
    fit = torch.full((num_channels + 1, ), 100. / num_channels, dtype=torch.float64)
    fit[-1] = 0.
    return fit


def _as_vector(value: FitLike, name: str, length: int) -> Tensor:
    vec = torch.as_tensor(value, dtype=torch.float64).flatten()
    if vec.numel() != length:
        raise ValueError(f'fold_l_into_rgb_conv: {name} must have {length} values, '
                         f'got {vec.numel()}')
    return vec


def fold_l_into_rgb_conv(weight: Tensor,
                         bias: Optional[Tensor],
                         mean: FitLike,
                         std: FitLike,
                         l_cent: float = 50.,
                         l_norm: float = 1.,
                         fit: Optional[FitLike] = None,
                         pixel_max: float = 255.) -> Tuple[Tensor, Tensor]:
    """Turn a conv on centred lightness into a conv on normalised pixels.

    Args:
        weight (Tensor): (O, 1, k, k) weight of the L network's first conv. A weight
            with R > 1 input channels that all received the same L (the colorization
            data preprocessor's ``replicate_l=R``) is summed over them first.
        bias (Tensor, optional): (O,) bias of that conv. Only used to check its shape:
            the caller adds the returned offset to it (or to the running mean of the
            BatchNorm that follows a conv without bias, see below).
        mean (Sequence[float]): (C,) per-channel mean subtracted by the fine-tuning data
            preprocessor, in pixel units (e.g. ``[123.675, 116.28, 103.53]``).
        std (Sequence[float]): (C,) per-channel std it divides by (pixel units).
        l_cent (float): The L network's centring. Defaults to 50.
        l_norm (float): The L network's scale. Defaults to 1.
        fit (Sequence[float], optional): (C + 1,) coefficients of
            ``L ~= sum_c fit[c] * p_c / pixel_max + fit[C]``, in the channel order the
            network sees. Defaults to :func:`fit_srgb_to_lightness` (needs C = 3).
        pixel_max (float): Pixel value of full intensity. Defaults to 255.

    Returns:
        tuple[Tensor, Tensor]: The (O, C, k, k) weight, in ``weight``'s dtype, and the
        (O,) offset to add to the conv's output for the RGB network to reproduce the L
        network (away from zero-padded borders): ``bias + offset`` for a conv with bias;
        for a conv without bias followed directly by a BatchNorm, subtract the offset
        from that BatchNorm's ``running_mean``.
    """
    if weight.dim() != 4:
        raise ValueError('fold_l_into_rgb_conv: weight must be (O, 1, k, k), '
                         f'got shape {tuple(weight.shape)}')
    if l_norm <= 0:
        raise ValueError(f'fold_l_into_rgb_conv: l_norm must be > 0, got {l_norm}')
    if bias is not None and tuple(bias.shape) != (weight.size(0), ):
        raise ValueError(f'fold_l_into_rgb_conv: bias must have shape '
                         f'({weight.size(0)},), got {tuple(bias.shape)}')
    mean_t = torch.as_tensor(mean, dtype=torch.float64).flatten()
    num_channels = mean_t.numel()
    std_t = _as_vector(std, 'std', num_channels)
    if (std_t <= 0).any():
        raise ValueError(f'fold_l_into_rgb_conv: std must be > 0, got {std_t.tolist()}')
    if fit is None:
        if num_channels != 3:
            raise ValueError('fold_l_into_rgb_conv: the default sRGB fit needs 3 '
                             f'channels, mean/std have {num_channels}; pass fit')
        fit = fit_srgb_to_lightness()
    fit_t = _as_vector(fit, 'fit', num_channels + 1)

    w_l = weight.detach().to(torch.float64).sum(dim=1, keepdim=True)  # (O, 1, k, k)
    scale = fit_t[:num_channels] * std_t / (pixel_max * l_norm)  # (C,)
    new_weight = w_l * scale.view(1, -1, 1, 1)
    shift = (
        (fit_t[:num_channels] * mean_t).sum() / pixel_max + fit_t[-1] - l_cent) / l_norm
    offset = shift * w_l.sum(dim=(1, 2, 3))
    return new_weight.to(weight.dtype), offset.to(weight.dtype)
