"""Fold an affine pixels -> L map into an L network's first conv (docs/transfer.md)."""
from functools import lru_cache
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from colorssl.color.lab import rgb_to_lab


@lru_cache(maxsize=4)
def _cube_fit(num_steps: int) -> Tuple[float, ...]:
    grid = torch.linspace(0., 1., num_steps, dtype=torch.float64)
    rgb = torch.cartesian_prod(grid, grid, grid)  # (num_steps ** 3, 3)
    return tuple(fit_srgb_to_lightness(samples=rgb).tolist())


def fit_srgb_to_lightness(num_steps: int = 64,
                          samples: Optional[Tensor] = None) -> Tensor:
    """Least-squares affine fit of CIE L (0..100) on sRGB (0..1).

    Args:
        num_steps (int): Grid steps per axis of the RGB cube fitted on when
            ``samples`` is None. Defaults to 64.
        samples (Tensor, optional): (N, 3) sRGB colours in [0, 1] to fit on.

    Returns:
        Tensor: (4,) float64 ``(w_r, w_g, w_b, c)`` with ``L ~= w . rgb + c``.
    """
    if samples is None:
        return torch.tensor(_cube_fit(num_steps), dtype=torch.float64)
    if samples.dim() != 2 or samples.size(1) != 3 or samples.size(0) < 4:
        raise ValueError('fit_srgb_to_lightness: samples must have shape (N, 3) '
                         f'with N >= 4, got {tuple(samples.shape)}')
    rgb = samples.to(torch.float64)
    lum = rgb_to_lab(rgb.T.reshape(3, -1, 1))[0].reshape(-1, 1)
    design = torch.cat((rgb, torch.ones_like(rgb[:, :1])), dim=1)
    return torch.linalg.lstsq(design, lum).solution[:, 0]


def gray_fit(num_channels: int) -> Tensor:
    """(C + 1,) float64 ``(100 / C, ..., 100 / C, 0)``: the exact map for gray input
    with ``p_c = 255 * L / 100`` in every channel."""
    fit = [100. / num_channels] * num_channels + [0.]
    return torch.tensor(fit, dtype=torch.float64)


def fold_l_into_rgb_conv(weight: Tensor,
                         bias: Optional[Tensor],
                         mean: Sequence[float],
                         std: Sequence[float],
                         l_cent: float = 50.,
                         l_norm: float = 1.,
                         fit: Optional[Sequence[float]] = None
                         ) -> Tuple[Tensor, Tensor]:
    """Turn a conv on ``(L - l_cent) / l_norm`` into a conv on ``(p - mean) / std``.

    Args:
        weight (Tensor): (O, R, k, k) weight of the L conv; R > 1 channels that all
            saw the same L are summed.
        bias (Tensor, optional): (O,) its bias, only to check the shape.
        mean (Sequence[float]): (C,) the new input's mean, pixel units.
        std (Sequence[float]): (C,) its std.
        l_cent, l_norm (float): The L network's scaling. Default to 50, 1.
        fit (Sequence[float], optional): (C + 1,) ``L ~= sum_c fit[c] * p_c / 255 +
            fit[C]``. Defaults to :func:`fit_srgb_to_lightness` (C = 3).

    Returns:
        tuple[Tensor, Tensor]: The (O, C, k, k) weight and the (O,) offset to add to
        the conv's output (its bias, or minus the next BatchNorm's running mean).
    """
    name = 'fold_l_into_rgb_conv'
    if weight.dim() != 4:
        raise ValueError(f'{name}: weight must be (O, 1, k, k), got shape '
                         f'{tuple(weight.shape)}')
    if l_norm <= 0:
        raise ValueError(f'{name}: l_norm must be > 0, got {l_norm}')
    if bias is not None and bias.shape != (weight.size(0), ):
        raise ValueError(f'{name}: bias must have shape ({weight.size(0)},), got '
                         f'{tuple(bias.shape)}')
    mean = torch.as_tensor(mean, dtype=torch.float64).flatten()
    num = mean.numel()
    if fit is None and num != 3:
        raise ValueError(f'{name}: the default sRGB fit needs 3 channels, mean/std '
                         f'have {num}; pass fit')
    fit = fit_srgb_to_lightness() if fit is None else fit
    std, fit = (torch.as_tensor(v, dtype=torch.float64).flatten() for v in (std, fit))
    for key, vec, length in (('std', std, num), ('fit', fit, num + 1)):
        if vec.numel() != length:
            raise ValueError(f'{name}: {key} must have {length} values, got '
                             f'{vec.numel()}')
    if (std <= 0).any():
        raise ValueError(f'{name}: std must be > 0, got {std.tolist()}')
    w_l = weight.detach().to(torch.float64).sum(dim=1, keepdim=True)  # (O, 1, k, k)
    new_weight = w_l * (fit[:num] * std / (255. * l_norm)).view(1, -1, 1, 1)
    shift = ((fit[:num] * mean).sum() / 255. + fit[-1] - l_cent) / l_norm
    offset = shift * w_l.sum(dim=(1, 2, 3))
    return new_weight.to(weight.dtype), offset.to(weight.dtype)
