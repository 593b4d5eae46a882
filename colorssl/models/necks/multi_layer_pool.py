"""Average-pool several feature maps to fixed grids, for per-layer linear probes."""
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MultiLayerAvgPool(nn.Module):
    """Pool feature map ``i`` to ``output_sizes[i]`` x ``output_sizes[i]``, flattened.

    The probes of Zhang et al. (ECCV 2016, Sec. 3.1) resize each layer's features to
    roughly 9,000 dimensions; for the paper's network (64, 128, 256, 512, 512 channels
    in conv1..conv5) the sizes ``(12, 8, 6, 4, 4)`` give 9216, 8192, 9216, 8192, 8192.
    See :meth:`sizes_for` to pick sizes for other widths.

    Args:
        output_sizes (int | Sequence[int]): Grid side per input feature map; an int
            applies to all.

    Shapes:
        - input: tuple of (N, C_i, H_i, W_i);
        - output: tuple of (N, C_i * s_i * s_i).
    """

    def __init__(self, output_sizes: Union[int, Sequence[int]]):
        super().__init__()
        if isinstance(output_sizes, int):
            output_sizes = (output_sizes, )
        output_sizes = tuple(output_sizes)
        if not output_sizes or any(
                not isinstance(s, int) or isinstance(s, bool) or s < 1
                for s in output_sizes):
            raise ValueError('MultiLayerAvgPool: output_sizes must be positive ints, '
                             f'got {output_sizes!r}')
        self.output_sizes = output_sizes

    @staticmethod
    def sizes_for(channels: Sequence[int], target_dim: int = 9000) -> Tuple[int, ...]:
        """Grid sides whose ``C * s * s`` is closest to ``target_dim``.

        Example:
            >>> MultiLayerAvgPool.sizes_for((64, 128, 256, 512, 512))
            (12, 8, 6, 4, 4)
        """
        return tuple(
            min(range(1, 257), key=lambda s: abs(c * s * s - target_dim))
            for c in channels)

    def forward(self, inputs: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, ...]:
        if not isinstance(inputs, (tuple, list)):
            inputs = (inputs, )
        sizes = self.output_sizes
        if len(sizes) == 1:
            sizes = sizes * len(inputs)
        if len(sizes) != len(inputs):
            raise ValueError(f'MultiLayerAvgPool got {len(inputs)} feature maps but '
                             f'{len(self.output_sizes)} output_sizes: set the '
                             "backbone's out_indices and neck.output_sizes alike")
        return tuple(
            F.adaptive_avg_pool2d(x, size).flatten(1) for x, size in zip(inputs, sizes))
