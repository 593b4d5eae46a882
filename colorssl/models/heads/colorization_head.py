"""Colorization head: a 1x1 conv to Q ab-bin logits, the rebalanced soft-encoded
loss and annealed-mean decoding (Zhang et al. 2016)."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from colorssl.color import (SoftEncoder, annealed_mean, load_ab_bins, read_prior,
                            rebalance_weights)
from colorssl.models.data_preprocessors import GRAY_THRESHOLD

AUTO_PRIOR_SIGMA = 5.0
"""Gaussian smoothing (ab units) of an estimated prior (paper Sec. 2.2)."""
_CHOICES = dict(
    target_resize=('area', 'nearest'),
    loss_normalize=('pixel', 'image'),
    gray_test=('full', 'target'))


def avg_factor_from_count(global_count: Union[int, float, torch.Tensor],
                          world_size: int) -> torch.Tensor:
    """``max(global_count, 1) / world_size`` (float32 scalar): with it as each
    rank's divisor, DDP's gradient average is one process's over the global batch."""
    return torch.as_tensor(global_count, dtype=torch.float32).clamp(min=1) / world_size


def global_avg_factor(local_count: torch.Tensor) -> torch.Tensor:
    """:func:`avg_factor_from_count` of ``local_count`` (scalar) summed over the
    ranks (itself when not distributed)."""
    count = local_count.detach().float().reshape(1).clone()
    if get_world_size() > 1:
        all_reduce(count, op='sum')
    return avg_factor_from_count(count[0], get_world_size())


@MODELS.register_module()
class ColorizationHead(BaseModule):
    """Predict a distribution over Q quantised ab bins per pixel.

    Logits are made at ``1 / pred_stride`` of the input size by a 1x1 conv and a
    bilinear resize. The colour prior (paper Sec. 2.2) lives in persistent buffers
    (``prior`` (Q,), ``prior_mean_ab`` (2,), ``prior_num_images``) that checkpoints
    carry; with ``prior='auto'``, :class:`colorssl.engine.hooks.ColorPriorHook`
    estimates it before training. The loss sum is divided by the kept pixels (or
    images) of all ranks over the world size (:func:`global_avg_factor`).

    Args:
        in_channels (int): Channels of the last feature map.
        bins (str): ``'original313'``, ``'srgb_reachable'`` or a .csv/.npy of (Q, 2)
            centres (:func:`colorssl.color.load_ab_bins`).
        prior (str, optional): ``'auto'``, a prior .npz file, a shipped prior by
            name (``'cifar10mini'``) or None (no rebalancing). Defaults to 'auto'.
        prior_samples (int): Images sampled for ``'auto'``. Defaults to 10000.
        prior_sigma (float, optional): Smoothing of the prior: of a file when read
            (None: already smoothed); for ``'auto'``, None means 5.
        rebalance_lambda (float): The paper's lambda. Defaults to 0.5.
        num_neighbors (int): Bins per soft target (paper: 5). Defaults to 5.
        sigma (float): Gaussian width of the soft encoding. Defaults to 5.
        temperature (float): Annealed-mean temperature. Defaults to 0.38.
        pred_stride (int): Input size over prediction size. Defaults to 4.
        target_resize (str): ab target to prediction size: ``'area'`` (cell means)
            or ``'nearest'`` (pixels 0, stride, 2 stride, ... as the released
            code). Defaults to 'area'.
        loss_normalize (str): Divide the loss sum by the prediction pixels of the
            kept images (``'pixel'``) or by the batch size, gray images included
            (``'image'``, the released Caffe training). Defaults to 'pixel'.
        gray_test (str): Which ab decides that an image is gray (no loss):
            ``'full'`` (the data preprocessor's ``is_gray``) or ``'target'`` (the
            target at prediction size, as the released code). Defaults to 'full'.
        loss (dict): The loss config. Defaults to ``MultinomialColorLoss``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 bins: str = 'original313',
                 prior: Optional[str] = 'auto',
                 prior_samples: int = 10000,
                 prior_sigma: Optional[float] = None,
                 rebalance_lambda: float = 0.5,
                 num_neighbors: int = 5,
                 sigma: float = 5.0,
                 temperature: float = 0.38,
                 pred_stride: int = 4,
                 target_resize: str = 'area',
                 loss_normalize: str = 'pixel',
                 gray_test: str = 'full',
                 loss: dict = dict(type='MultinomialColorLoss'),
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Conv2d', std=0.01)):
        super().__init__(init_cfg=init_cfg)
        for key, value in dict(
                target_resize=target_resize,
                loss_normalize=loss_normalize,
                gray_test=gray_test).items():
            if value not in _CHOICES[key]:
                raise ValueError(f'model.head.{key} must be one of {_CHOICES[key]}, '
                                 f'got {value!r}')
        if not (temperature > 0 and 0 <= rebalance_lambda <= 1
                and type(prior_samples) is int and prior_samples >= 1):
            raise ValueError('model.head needs temperature > 0, rebalance_lambda in '
                             '[0, 1] and prior_samples an int >= 1, got '
                             f'{temperature}, {rebalance_lambda}, {prior_samples!r}')
        self.temperature, self.pred_stride = temperature, pred_stride
        self.target_resize, self.loss_normalize = target_resize, loss_normalize
        self.gray_test, self.prior_source = gray_test, prior
        self.prior_samples, self.prior_sigma = prior_samples, prior_sigma
        self.rebalance_lambda, self.rebalance = rebalance_lambda, prior is not None
        bin_centres = load_ab_bins(bins)
        self.num_bins = len(bin_centres)
        self.register_buffer('bins', bin_centres, persistent=False)
        self.encoder = SoftEncoder(bin_centres, num_neighbors, sigma)
        self.register_buffer('prior', torch.zeros(self.num_bins))
        self.register_buffer('prior_mean_ab', torch.zeros(2))
        self.register_buffer('prior_num_images', torch.zeros((), dtype=torch.long))
        self.register_buffer(
            'class_weights', torch.ones(self.num_bins), persistent=False)
        if self.rebalance and not self.auto_prior:
            self.set_prior(*read_prior(prior, bin_centres, prior_sigma))
        self.register_load_state_dict_post_hook(lambda m, _: m._update_weights())
        self.conv_seg = nn.Conv2d(in_channels, self.num_bins, kernel_size=1)
        self.loss_module = MODELS.build(loss)

    @property
    def auto_prior(self) -> bool:
        """Whether the prior is to be estimated from the training data."""
        return self.prior_source == 'auto'

    @property
    def has_prior(self) -> bool:
        """Whether the rebalancing weights are set (or there is no rebalancing)."""
        return not self.rebalance or bool(self.prior.sum() > 0)

    @property
    def train_mean_ab(self) -> Optional[torch.Tensor]:
        """(2,) mean ab of the prior's images, None without a prior."""
        return self.prior_mean_ab if self.rebalance and self.has_prior else None

    def set_prior(self,
                  prior: torch.Tensor,
                  num_images: int = -1,
                  mean_ab: Optional[torch.Tensor] = None) -> None:
        """Set the (smoothed) prior (Q,), normalised here; ``num_images`` it came
        from (-1: unknown) and their mean ab (2,) (None: the prior's mean bin)."""
        prior = torch.as_tensor(prior).detach().float().reshape(-1)
        if prior.numel() != self.num_bins or not bool(prior.sum() > 0) or \
                bool((prior < 0).any()):
            raise ValueError(f'a prior must be {self.num_bins} non-negative values '
                             f'with a positive sum, got shape {tuple(prior.shape)}')
        prior = prior / prior.sum()
        self.prior.copy_(prior)
        self.prior_num_images.fill_(int(num_images))
        if mean_ab is None:
            mean_ab = (prior[:, None] * self.bins.to(prior)).sum(0)
        self.prior_mean_ab.copy_(torch.as_tensor(mean_ab).float().reshape(2))
        self._update_weights()

    def _update_weights(self) -> None:
        self.class_weights.fill_(1.)
        if self.rebalance and self.has_prior:
            self.class_weights.copy_(
                rebalance_weights(self.prior.double(), lam=self.rebalance_lambda))

    def forward(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]],
                input_size: Tuple[int, int]) -> torch.Tensor:
        """Logits (N, Q, H / pred_stride, W / pred_stride) of the (last) feature
        map (N, C, h, w) for an input of size ``input_size`` (H, W)."""
        x = feats[-1] if isinstance(feats, (list, tuple)) else feats
        if x.dim() != 4:
            raise ValueError('ColorizationHead needs a spatial feature map (N, C, h, '
                             f'w), got shape {tuple(x.shape)}: remove pooling necks')
        logits = self.conv_seg(x)
        size = self.pred_size(input_size)
        if logits.shape[-2:] == size:
            return logits
        # Channels-last: the loss's softmax over bins reads contiguous memory.
        logits = logits.contiguous(memory_format=torch.channels_last)
        return F.interpolate(logits, size, mode='bilinear', align_corners=False)

    def pred_size(self, input_size: Tuple[int, int]) -> Tuple[int, int]:
        return tuple(max(1, s // self.pred_stride) for s in input_size)

    def resize_target(self, ab: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
        """ab (N, 2, H, W) -> (N, 2, *size) by ``target_resize``; ``'nearest'``
        takes rows and columns 0, s, 2 s, ... with ``s = pred_stride`` when
        ``size`` is the prediction size of (H, W), else ``H // size[0]``, ..."""
        if ab.shape[-2:] == size:
            return ab
        if self.target_resize == 'area':
            return F.adaptive_avg_pool2d(ab, size)
        sh, sw = ab.size(2) // size[0], ab.size(3) // size[1]
        if tuple(size) == self.pred_size(ab.shape[-2:]):
            sh = sw = self.pred_stride
        return ab[:, :, ::sh, ::sw][:, :, :size[0], :size[1]]

    @torch.no_grad()
    def encode_targets(self, ab: torch.Tensor):
        """Soft targets of ab (N, 2, h, w): bins ``idx`` (N, K, h, w), nearest
        first, their masses (N, K, h, w) and the rebalancing weight (N, h, w) of
        each pixel's nearest bin (None without a prior)."""
        if not self.rebalance:
            return (*self.encoder(ab), None)
        return self.encoder(ab, bin_weight=self.class_weights)

    def loss(self,
             feats,
             gt_ab: torch.Tensor,
             sample_mask: Optional[torch.Tensor] = None,
             gray_thresh: float = GRAY_THRESHOLD) -> dict:
        """``loss``, ``pixel_weight_mean`` (with a prior) and ``num_gray`` (with
        ``gray_test='target'``, by ``gray_thresh``) for ab ``gt_ab`` (N, 2, H, W) at
        input size; ``sample_mask`` (N,) bool is False for gray images (no loss)."""
        if not self.has_prior:
            raise RuntimeError(
                "model.head.prior='auto' but no colour prior was estimated: add "
                "dict(type='ColorPriorHook') to custom_hooks (a config that sets "
                'custom_hooks replaces the runtime\'s list), or set model.head.prior '
                'to a prior file or None')
        logits = self(feats, gt_ab.shape[-2:])
        ab = self.resize_target(gt_ab.float(), logits.shape[-2:])
        out = {}
        if self.gray_test == 'target':
            sample_mask = ab.abs().flatten(1).amax(1) > gray_thresh
            out['num_gray'] = (~sample_mask).sum().float()
        elif sample_mask is None:
            sample_mask = torch.ones(len(ab), dtype=torch.bool, device=ab.device)
        idx, mass, pixel_weight = self.encode_targets(ab)
        weight = sample_mask.float()[:, None, None].expand(len(ab), *ab.shape[2:])
        if pixel_weight is not None:
            weight = weight * pixel_weight
            out['pixel_weight_mean'] = pixel_weight.mean()
        count = sample_mask.sum() * ab.shape[2] * ab.shape[3] if self.loss_normalize \
            == 'pixel' else torch.tensor(len(ab), device=ab.device)
        out['loss'] = self.loss_module(
            logits, (idx, mass), weight, avg_factor=global_avg_factor(count))
        return out

    def predict(self,
                feats,
                input_size: Tuple[int, int],
                temperature: Optional[float] = None) -> torch.Tensor:
        """Annealed-mean ab (N, 2, H, W) at input size."""
        ab = annealed_mean(
            self(feats, input_size).float(), self.bins, temperature or self.temperature)
        return F.interpolate(
            ab, size=tuple(input_size), mode='bilinear', align_corners=False)
