"""Colour maths of Colorful Image Colorization (Zhang et al., ECCV 2016) in pure
torch: sRGB <-> Lab, the ab bins, soft encoding, rebalancing, prior files and
annealed-mean decoding."""
from .bins import AB_GRID, load_ab_bins, srgb_reachable_bins
from .decode import annealed_mean
from .encode import SoftEncoder, nearest_bin
from .lab import lab_to_rgb, rgb8_to_lab, rgb_to_lab
from .prior import DEFAULT_PRIOR, NAMED_PRIORS, load_prior, read_prior, save_prior
from .rebalance import histogram_ab, rebalance_weights, smooth_prior

__all__ = [
    'AB_GRID', 'load_ab_bins', 'srgb_reachable_bins', 'annealed_mean', 'SoftEncoder',
    'nearest_bin', 'lab_to_rgb', 'rgb8_to_lab', 'rgb_to_lab', 'DEFAULT_PRIOR',
    'NAMED_PRIORS', 'load_prior', 'read_prior', 'save_prior', 'histogram_ab',
    'rebalance_weights', 'smooth_prior'
]
