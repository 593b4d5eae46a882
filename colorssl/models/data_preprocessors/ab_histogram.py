"""Images -> ab-bin histogram: the statistics behind the colour prior.

One code path for ``tools/compute_color_prior.py`` and
:class:`colorssl.engine.hooks.ColorPriorHook` (``model.head.prior='auto'``): the
images go through the data preprocessor's Lab conversion (:func:`images_to_lab`),
grayscale images (:data:`GRAY_THRESHOLD`) are skipped and counted, and every pixel of
the others is counted at its nearest bin (:func:`colorssl.color.histogram_ab`).
"""
from typing import NamedTuple, Optional, Sequence, Union

import torch

from colorssl.color import histogram_ab, smooth_prior
from .colorization_data_preprocessor import GRAY_THRESHOLD, gray_flags, images_to_lab


class ABHistogram(NamedTuple):
    """Colour statistics of a set of images (add two with :meth:`merge`).

    Attributes:
        counts (Tensor): (Q,) int64, pixels of the colour images per nearest bin.
        ab_sum (Tensor): (2,) float64, sum of a and of b over those pixels.
        num_color (int): Images counted.
        num_gray (int): Grayscale images skipped.
    """
    counts: torch.Tensor
    ab_sum: torch.Tensor
    num_color: int
    num_gray: int

    @classmethod
    def empty(cls, num_bins: int) -> 'ABHistogram':
        return cls(
            torch.zeros(num_bins, dtype=torch.int64),
            torch.zeros(2, dtype=torch.float64), 0, 0)

    def merge(self, other: 'ABHistogram') -> 'ABHistogram':
        return ABHistogram(self.counts + other.counts, self.ab_sum + other.ab_sum,
                           self.num_color + other.num_color,
                           self.num_gray + other.num_gray)

    @property
    def num_pixels(self) -> int:
        return int(self.counts.sum())

    @property
    def mean_ab(self) -> Optional[tuple]:
        """Mean (a, b) over the counted pixels (exact, not bin-quantised), or None
        when nothing was counted."""
        if self.num_pixels == 0:
            return None
        return tuple((self.ab_sum / self.num_pixels).tolist())

    def to_prior(self,
                 bins: torch.Tensor,
                 sigma: Optional[float] = 5.0) -> torch.Tensor:
        """(Q,) float64 distribution: counts normalised, smoothed with a Gaussian of
        ``sigma`` ab units (paper Sec. 2.2: 5; None or 0: not smoothed)."""
        if self.num_pixels == 0:
            raise ValueError('no colour pixel was counted: cannot make a prior')
        prior = self.counts.double() / self.num_pixels
        if sigma:
            prior = smooth_prior(prior, bins, sigma=sigma).double()
        return prior


def ab_histogram(images: Union[torch.Tensor, Sequence[torch.Tensor]],
                 bins: torch.Tensor,
                 gray_thresh: float = GRAY_THRESHOLD,
                 channel_order: str = 'rgb') -> ABHistogram:
    """Count the ab values of images by nearest bin, skipping grayscale images.

    Args:
        images (Tensor | list[Tensor]): (N, 3, H, W) or a list of (3, H, W) tensors
            (sizes may differ in a list), uint8 in [0, 255] or float in [0, 1], in
            ``channel_order``; converted as by the data preprocessor.
        bins (Tensor): (Q, 2) bin centres.
        gray_thresh (float): An image with no ``|a|`` or ``|b|`` above this is
            grayscale: skipped and counted. Defaults to :data:`GRAY_THRESHOLD`.
        channel_order (str): ``'rgb'`` or ``'bgr'``. Defaults to ``'rgb'``.

    Returns:
        ABHistogram: counts (Q,), ab sums and image counts.
    """
    if isinstance(images, torch.Tensor):
        images = [images] if images.dim() == 3 else list(images)
    out = ABHistogram.empty(bins.size(0))
    # Images of one size are converted and counted together (one call each).
    groups = {}
    for img in images:
        groups.setdefault(tuple(img.shape), []).append(img)
    for group in groups.values():
        ab = images_to_lab(torch.stack(group), channel_order)[:, 1:]
        gray = gray_flags(ab, gray_thresh)
        num_gray = int(gray.sum())
        out = out._replace(num_gray=out.num_gray + num_gray)
        if num_gray == len(group):
            continue
        ab = ab[~gray]
        out = out.merge(
            ABHistogram(
                histogram_ab(ab, bins.to(ab)).cpu(),
                ab.double().sum(dim=(0, 2, 3)).cpu(), ab.size(0), 0))
    return out
