"""Colour maths of Colorful Image Colorization (Zhang et al., ECCV 2016).

Pure torch (no OpenMMLab imports): sRGB <-> Lab conversion, the quantised ab
bins, soft-encoding of ab targets, class rebalancing and annealed-mean
decoding. On CPU the element-wise functions (Lab conversion, soft encoding,
decoding) give the same bits for any ``torch.set_num_threads`` (see
:mod:`.pieces`).
"""
from .bins import AB_GRID, load_ab_bins, srgb_reachable_bins
from .decode import annealed_mean
from .encode import SoftEncoder, nearest_bin, soft_encode, soft_encode_dense
from .lab import lab_to_rgb, rgb8_to_lab, rgb_to_lab
from .rebalance import (DEFAULT_PRIOR, histogram_ab, load_prior, rebalance_weights,
                        save_prior, smooth_prior)

__all__ = [
    'AB_GRID', 'load_ab_bins', 'srgb_reachable_bins', 'annealed_mean', 'SoftEncoder',
    'nearest_bin', 'soft_encode', 'soft_encode_dense', 'lab_to_rgb', 'rgb8_to_lab',
    'rgb_to_lab', 'DEFAULT_PRIOR', 'histogram_ab', 'load_prior', 'rebalance_weights',
    'save_prior', 'smooth_prior'
]
