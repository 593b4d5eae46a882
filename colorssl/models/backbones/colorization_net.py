"""The fully convolutional network of Colorful Image Colorization.

Zhang, Isola and Efros, "Colorful Image Colorization", ECCV 2016, Fig. 2. The network
maps the lightness channel ``L`` to features from which a 1x1 conv (the head's job, see
``ColorizationHead``) predicts a distribution over the Q = 313 quantised ab bins.

What follows the paper and what follows the released Caffe model
(``colorization_deploy_v2.prototxt``):

* Paper: eight blocks ``conv1`` .. ``conv8`` of 2 or 3 (conv 3x3 + ReLU) layers, each
  block but ``conv8`` followed by a BatchNorm; no pooling, resolution changes only by
  strided convs between blocks; dilation 2 in ``conv5`` and ``conv6``; output at 1/4 of
  the input resolution.
* Released code: the stride 2 is on the *last* conv of ``conv1`` .. ``conv3``; ``conv8``
  opens with a 4x4 stride-2 transposed conv (padding 1) and has no BatchNorm; every conv
  has a bias; the BatchNorm sits after the block's last ReLU. Its BatchNorm layers have
  no learnable scale or shift (Caffe ``BatchNorm`` without a ``Scale`` layer): pass
  ``norm_cfg=dict(type='BN', affine=False)`` to match that exactly. The default here
  keeps an affine BatchNorm, as mmpretrain backbones do.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm


class BlockSetting(NamedTuple):
    """One block of :class:`ColorizationNet` (channels at ``base_channels=64``).

    Attributes:
        name (str): Attribute name of the block (``'conv1'`` .. ``'conv8'``).
        channels (int): Output channels of every conv in the block.
        num_convs (int): Number of conv + ReLU layers.
        stride (int): Stride of the block's last conv (1 or 2).
        dilation (int): Dilation of every 3x3 conv in the block.
        upsample (bool): Whether the first layer is a 4x4 stride-2 transposed conv.
        norm (bool): Whether a norm layer follows the last ReLU.
    """
    name: str
    channels: int
    num_convs: int
    stride: int = 1
    dilation: int = 1
    upsample: bool = False
    norm: bool = True


# Fig. 2 of the paper with the released model's placement of strides.
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


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f'ColorizationNet: {name} must be an int >= {minimum}, '
                         f'got {value!r}')
    return value


def _make_block(setting: BlockSetting, in_channels: int, channels: int,
                norm_cfg: dict) -> nn.Sequential:
    """Build one block as ``nn.Sequential``; its children are numbered from 0.

    Layout for ``conv1`` (2 convs): ``0`` conv, ``1`` ReLU, ``2`` conv (stride 2),
    ``3`` ReLU, ``4`` norm. ``conv8``: ``0`` transposed conv, ``1`` ReLU, ``2`` conv,
    ``3`` ReLU, ``4`` conv, ``5`` ReLU.
    """
    layers: List[nn.Module] = []
    d = setting.dilation
    for i in range(setting.num_convs):
        cin = in_channels if i == 0 else channels
        if i == 0 and setting.upsample:
            # (H - 1) * 2 - 2 * 1 + 4 = 2H: exactly doubles the resolution.
            layers.append(nn.ConvTranspose2d(cin, channels, 4, stride=2, padding=1))
        else:
            stride = setting.stride if i == setting.num_convs - 1 else 1
            layers.append(
                nn.Conv2d(cin, channels, 3, stride=stride, padding=d, dilation=d))
        layers.append(nn.ReLU(inplace=True))
    if setting.norm:
        layers.append(build_norm_layer(norm_cfg, channels)[1])
    return nn.Sequential(*layers)


@MODELS.register_module()
class ColorizationNet(BaseModule):
    """Colorization network of Zhang et al. (ECCV 2016) as an mmpretrain backbone.

    Input: the lightness ``L - 50`` (centring is the data preprocessor's job), shape
    ``(N, in_channels, H, W)``. Output of block ``i`` (``0`` = ``conv1``), for ``H`` and
    ``W`` divisible by 8 and ``c = base_channels``:

    =====  =========  ============  ====================
    index  block      channels      resolution
    =====  =========  ============  ====================
    0      conv1      c             H/2 x W/2
    1      conv2      2c            H/4 x W/4
    2      conv3      4c            H/8 x W/8
    3      conv4      8c            H/8 x W/8
    4      conv5      8c            H/8 x W/8 (dilation 2)
    5      conv6      8c            H/8 x W/8 (dilation 2)
    6      conv7      8c            H/8 x W/8
    7      conv8      4c            H/4 x W/4
    =====  =========  ============  ====================

    For other sizes each stride-2 conv gives ``ceil(size / 2)`` and ``conv8`` gives
    ``2 * ceil(H / 8)``, which differs from ``H / 4``. At ``base_channels=64`` the
    channels are the paper's (64, 128, 256, 512, 512, 512, 512, 256).

    Args:
        in_channels (int): Input channels; 1 for the L channel. Defaults to 1.
        base_channels (int): Width of ``conv1``; every block's width scales with it
            (``64`` is the paper's network, ``16`` or ``8`` make a CPU-sized one).
            Defaults to 64.
        out_indices (int | Sequence[int]): Blocks whose outputs are returned, 0..7 for
            ``conv1`` .. ``conv8``; negative values count from the end (-1 is
            ``conv8``). Outputs come in increasing block order. Defaults to ``(7,)``.
        frozen_stages (int): Freeze ``conv1`` .. ``conv{frozen_stages}`` (parameters get
            ``requires_grad=False`` and their norm layers stay in eval mode). -1 or 0
            freezes nothing, 8 freezes everything. Defaults to -1.
        norm_cfg (dict): Norm layer config for mmcv's ``build_norm_layer``. Defaults to
            ``dict(type='BN')``.
        norm_eval (bool): Keep every BatchNorm in eval mode (frozen running statistics)
            during training. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config. Defaults to
            Kaiming (fan-out, ReLU) for the convs and weight 1, bias 0 for norms.
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
        self.base_channels = _check_int('base_channels', base_channels, 1)
        self.out_indices = self._normalize_out_indices(out_indices)
        if (isinstance(frozen_stages, bool) or not isinstance(frozen_stages, int)
                or not -1 <= frozen_stages <= self.num_blocks):
            raise ValueError('ColorizationNet: frozen_stages must be an int in '
                             f'[-1, {self.num_blocks}] (freeze conv1..conv{{k}}), got '
                             f'{frozen_stages!r}')
        self.frozen_stages = frozen_stages
        if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
            raise ValueError('ColorizationNet: norm_cfg must be a dict with a "type" '
                             f"key, e.g. dict(type='BN'), got {norm_cfg!r}")
        self.norm_cfg = norm_cfg
        self.norm_eval = bool(norm_eval)

        self.block_names: List[str] = []
        self.block_channels: List[int] = []
        cin = in_channels
        for setting in self.arch_settings(base_channels):
            block = _make_block(setting, cin, setting.channels, norm_cfg)
            self.add_module(setting.name, block)
            self.block_names.append(setting.name)
            self.block_channels.append(setting.channels)
            cin = setting.channels
        self._freeze_stages()

    @classmethod
    def arch_settings(cls, base_channels: int = 64) -> Tuple[BlockSetting, ...]:
        """The eight blocks, channels scaled by ``base_channels / 64``.

        Example:
            >>> ColorizationNet.arch_settings(64)[4]
            BlockSetting(name='conv5', channels=512, num_convs=3, stride=1, \
dilation=2, upsample=False, norm=True)
        """
        _check_int('base_channels', base_channels, 1)
        return tuple(
            s._replace(channels=s.channels * base_channels // 64) for s in _ARCH)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned output, in ``out_indices`` order."""
        return tuple(self.block_channels[i] for i in self.out_indices)

    def _normalize_out_indices(self, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int) and not isinstance(out_indices, bool):
            out_indices = (out_indices, )
        if not isinstance(out_indices, Sequence) or isinstance(out_indices, str) \
                or len(out_indices) == 0:
            raise ValueError('ColorizationNet: out_indices must be an int or a '
                             'non-empty sequence of ints in '
                             f'[-{self.num_blocks}, {self.num_blocks - 1}], got '
                             f'{out_indices!r}')
        result = []
        for index in out_indices:
            if isinstance(index, bool) or not isinstance(index, int) \
                    or not -self.num_blocks <= index < self.num_blocks:
                raise ValueError(
                    f'ColorizationNet: out_indices entry {index!r} is out of range; '
                    f'expected ints in [-{self.num_blocks}, {self.num_blocks - 1}] '
                    '(0..7 = conv1..conv8)')
            result.append(index % self.num_blocks)
        if len(set(result)) != len(result):
            raise ValueError('ColorizationNet: out_indices has duplicate blocks: '
                             f'{out_indices!r}')
        return tuple(sorted(result))

    def _freeze_stages(self) -> None:
        for name in self.block_names[:max(self.frozen_stages, 0)]:
            block = getattr(self, name)
            block.eval()
            for param in block.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Run the blocks.

        Args:
            x (Tensor): Centred lightness, shape ``(N, in_channels, H, W)``.

        Returns:
            tuple[Tensor]: The outputs of the blocks in ``out_indices`` (see the class
            docstring for their shapes); ``conv8`` is ``(N, 4c, H/4, W/4)``.
        """
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(
                f'ColorizationNet expects input of shape (N, {self.in_channels}, H, W) '
                f'(the centred L channel), got {tuple(x.shape)}')
        outs = []
        last = self.out_indices[-1]
        for i, name in enumerate(self.block_names[:last + 1]):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'ColorizationNet':
        """Switch mode, keeping frozen blocks (and all BN if ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
