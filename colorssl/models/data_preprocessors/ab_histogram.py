"""Images -> ab-bin histogram, the statistics behind the colour prior."""
from typing import NamedTuple, Optional, Sequence, Union

import torch

from colorssl.color import histogram_ab, smooth_prior
from .colorization_data_preprocessor import GRAY_THRESHOLD, gray_flags, images_to_lab


class ABHistogram(NamedTuple):
    """Colour statistics of a set of images.

    Attributes:
        counts (Tensor): (Q,) int64 pixels of the colour images per nearest bin.
        ab_sum (Tensor): (2,) float64 sums of a and b over those pixels.
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
        return ABHistogram(*(a + b for a, b in zip(self, other)))

    @property
    def num_pixels(self) -> int:
        return int(self.counts.sum())

    @property
    def mean_ab(self) -> Optional[tuple]:
        """Exact mean (a, b) of the counted pixels, or None when there are none."""
        n = self.num_pixels
        return tuple((self.ab_sum / n).tolist()) if n else None

    def to_prior(self,
                 bins: torch.Tensor,
                 sigma: Optional[float] = 5.0) -> torch.Tensor:
        """(Q,) float64 normalised counts, smoothed with a Gaussian of ``sigma`` ab
        units over the (Q, 2) ``bins`` (None or 0: not smoothed)."""
        if self.num_pixels == 0:
            raise ValueError('no colour pixel was counted: cannot make a prior')
        prior = self.counts.double() / self.num_pixels
        return smooth_prior(prior, bins, sigma=sigma).double() if sigma else prior


def ab_histogram(images: Union[torch.Tensor, Sequence[torch.Tensor]],
                 bins: torch.Tensor,
                 gray_thresh: float = GRAY_THRESHOLD,
                 channel_order: str = 'rgb') -> ABHistogram:
    """Count the ab values of the colour images by nearest (Q, 2) ``bins``.

    ``images``: (N, 3, H, W), (3, H, W) or a list of (3, H, W) of any sizes, uint8 or
    [0, 1] float in ``channel_order``; images with no ``|a|``, ``|b|`` above
    ``gray_thresh`` are skipped and counted as grayscale.
    """
    if isinstance(images, torch.Tensor):
        images = [images] if images.dim() == 3 else list(images)
    out = ABHistogram.empty(bins.size(0))
    groups = {}
    for img in images:
        groups.setdefault(tuple(img.shape), []).append(img)
    for group in groups.values():
        ab = images_to_lab(torch.stack(group), channel_order)[:, 1:]
        gray = gray_flags(ab, gray_thresh)
        ab = ab[~gray]
        out = out.merge(
            ABHistogram(
                histogram_ab(ab, bins.to(ab)).cpu(),
                ab.double().sum(dim=(0, 2, 3)).cpu(), ab.size(0), int(gray.sum())))
    return out
