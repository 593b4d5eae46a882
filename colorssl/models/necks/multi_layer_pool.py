"""Average-pool several feature maps to fixed grids, for per-layer linear probes."""
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MultiLayerAvgPool(nn.Module):
    """Pool feature map ``i`` (N, C_i, H_i, W_i) to an ``s_i x s_i`` grid, flattened
    to (N, C_i * s_i * s_i).

    Args:
        output_sizes (int | Sequence[int]): Grid side per feature map; one value
            applies to all.
    """

    def __init__(self, output_sizes: Union[int, Sequence[int]]):
        super().__init__()
        sizes = output_sizes
        sizes = (sizes, ) if isinstance(sizes, int) else tuple(sizes)
        if not sizes or any(not isinstance(s, int) or isinstance(s, bool) or s < 1
                            for s in sizes):
            raise ValueError('MultiLayerAvgPool: output_sizes must be positive ints, '
                             f'got {output_sizes!r}')
        self.output_sizes = sizes

    @staticmethod
    def sizes_for(channels: Sequence[int], target_dim: int = 9000) -> Tuple[int, ...]:
        """Grid sides whose ``C * s * s`` is closest to ``target_dim``."""
        return tuple(
            min(range(1, 257), key=lambda s: abs(c * s * s - target_dim))
            for c in channels)

    def forward(self, inputs: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, ...]:
        if not isinstance(inputs, (tuple, list)):
            inputs = (inputs, )
        sizes = self.output_sizes
        sizes = sizes * len(inputs) if len(sizes) == 1 else sizes
        if len(sizes) != len(inputs):
            raise ValueError(f'MultiLayerAvgPool got {len(inputs)} feature maps but '
                             f'{len(sizes)} output_sizes: set the backbone\'s '
                             'out_indices and neck.output_sizes alike')
        return tuple(
            F.adaptive_avg_pool2d(x, size).flatten(1) for x, size in zip(inputs, sizes))
