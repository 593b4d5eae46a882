"""The fully convolutional network of Colorful Image Colorization (Zhang et al.)."""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm


class BlockSetting(NamedTuple):
    """One block: name, conv width, number of conv + ReLU, stride of its last conv,
    dilation, whether it opens with a 4x4 stride-2 transposed conv, whether a norm
    layer follows its last ReLU."""
    name: str
    channels: int
    num_convs: int
    stride: int = 1
    dilation: int = 1
    upsample: bool = False
    norm: bool = True


# Fig. 2 of the paper, strides placed as in the released model.
_ARCH = (
    BlockSetting('conv1', 64, 2, stride=2),
    BlockSetting('conv2', 128, 2, stride=2),
    BlockSetting('conv3', 256, 3, stride=2),
    BlockSetting('conv4', 512, 3),
    BlockSetting('conv5', 512, 3, dilation=2),
    BlockSetting('conv6', 512, 3, dilation=2),
    BlockSetting('conv7', 512, 3),
    BlockSetting('conv8', 256, 3, upsample=True, norm=False),
)


def _check_int(name: str, value, low: int, high: float = float('inf')) -> int:
    if isinstance(value,
                  bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f'ColorizationNet: {name} must be an int in [{low}, {high}], '
                         f'got {value!r}')
    return value


def _make_block(s: BlockSetting, in_channels: int, norm_cfg: dict) -> nn.Sequential:
    """conv, ReLU, ..., conv (stride ``s.stride``), ReLU[, norm]."""
    layers: List[nn.Module] = []
    for i in range(s.num_convs):
        cin = in_channels if i == 0 else s.channels
        if i == 0 and s.upsample:
            layers.append(nn.ConvTranspose2d(cin, s.channels, 4, stride=2, padding=1))
        else:
            stride = s.stride if i == s.num_convs - 1 else 1
            layers.append(nn.Conv2d(cin, s.channels, 3, stride, s.dilation, s.dilation))
        layers.append(nn.ReLU(inplace=True))
    if s.norm:
        layers.append(build_norm_layer(norm_cfg, s.channels)[1])
    return nn.Sequential(*layers)


@MODELS.register_module()
class ColorizationNet(BaseModule):
    """Colorization network of Zhang et al. (ECCV 2016) as an mmpretrain backbone.

    Input ``(N, in_channels, H, W)``, the centred lightness. Output of block ``i``
    (``c = base_channels``, H and W divisible by 8): conv1 ``(N, c, H/2, W/2)``,
    conv2 ``(N, 2c, H/4, W/4)``, conv3 ``(N, 4c, H/8, W/8)``, conv4..conv7
    ``(N, 8c, H/8, W/8)``, conv8 ``(N, 4c, H/4, W/4)``. Strided convs give
    ``ceil(size / 2)``.

    Args:
        in_channels (int): Input channels. Defaults to 1.
        base_channels (int): Width of ``conv1``; all widths scale with it (64 is the
            paper's). Defaults to 64.
        out_indices (int | Sequence[int]): Blocks returned (0..7, negative from the
            end), in increasing order. Defaults to ``(7, )``.
        frozen_stages (int): Freeze ``conv1`` .. ``conv{frozen_stages}``; -1 or 0
            freezes nothing. Defaults to -1.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        norm_eval (bool): Keep every BatchNorm in eval mode. Defaults to False.
        init_cfg (dict | list[dict], optional): Defaults to Kaiming convs, unit norms.
    """

    num_blocks = len(_ARCH)

    def __init__(self,
                 in_channels: int = 1,
                 base_channels: int = 64,
                 out_indices: Union[int, Sequence[int]] = (7, ),
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='Kaiming', layer=['Conv2d', 'ConvTranspose2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = _check_int('in_channels', in_channels, 1)
        n = self.num_blocks
        if not isinstance(out_indices, Sequence):
            out_indices = (out_indices, )
        indices = [_check_int('out_indices', i, -n, n - 1) % n for i in out_indices]
        if not indices or len(set(indices)) != len(indices):
            raise ValueError('ColorizationNet: out_indices must be non-empty, without '
                             f'duplicate blocks, got {out_indices!r}')
        self.out_indices = tuple(sorted(indices))
        self.frozen_stages = _check_int('frozen_stages', frozen_stages, -1, n)
        if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
            raise ValueError('ColorizationNet: norm_cfg must be a dict with a "type" '
                             f'key, got {norm_cfg!r}')
        self.norm_eval = norm_eval
        self.block_names, self.block_channels = [], []
        for s in self.arch_settings(base_channels):
            self.add_module(s.name, _make_block(s, in_channels, norm_cfg))
            self.block_names.append(s.name)
            self.block_channels.append(s.channels)
            in_channels = s.channels
        self._freeze_stages()

    @classmethod
    def arch_settings(cls, base_channels: int = 64) -> Tuple[BlockSetting, ...]:
        """The eight blocks, widths scaled by ``base_channels / 64``."""
        _check_int('base_channels', base_channels, 1)
        return tuple(
            s._replace(channels=s.channels * base_channels // 64) for s in _ARCH)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned output, in ``out_indices`` order."""
        return tuple(self.block_channels[i] for i in self.out_indices)

    def _freeze_stages(self) -> None:
        for name in self.block_names[:max(self.frozen_stages, 0)]:
            getattr(self, name).eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(N, in_channels, H, W) -> tuple of the ``out_indices`` block outputs."""
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(f'ColorizationNet expects input of shape (N, '
                             f'{self.in_channels}, H, W), got {tuple(x.shape)}')
        outs = []
        for i, name in enumerate(self.block_names[:self.out_indices[-1] + 1]):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'ColorizationNet':
        """Set the mode; frozen blocks (all BatchNorm if ``norm_eval``) stay in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
