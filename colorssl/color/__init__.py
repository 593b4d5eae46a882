"""Colour maths of Colorful Image Colorization (Zhang et al., ECCV 2016).

Pure torch (no OpenMMLab imports): sRGB <-> Lab conversion, the quantised ab
bins, soft-encoding of ab targets, class rebalancing and annealed-mean
decoding.
"""
from .bins import AB_GRID, load_ab_bins, srgb_reachable_bins
from .lab import lab_to_rgb, rgb_to_lab

__all__ = [
    'AB_GRID', 'load_ab_bins', 'srgb_reachable_bins', 'lab_to_rgb',
    'rgb_to_lab'
]
