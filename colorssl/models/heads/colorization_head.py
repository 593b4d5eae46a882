"""Colorization head: 1x1 conv to Q ab-bin logits, rebalanced soft-encoded loss,
annealed-mean decoding."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from colorssl.color import (DEFAULT_PRIOR, SoftEncoder, annealed_mean, load_ab_bins,
                            load_prior, rebalance_weights, smooth_prior)


@MODELS.register_module()
class ColorizationHead(BaseModule):
    """Predict a distribution over Q quantised ab bins per pixel.

    The logits are produced at ``1 / pred_stride`` of the input resolution (1/4 in the
    paper). Features from a backbone at another stride (e.g. 1/32 for ResNet-50) are
    mapped to Q logits by the 1x1 conv and resized bilinearly to that size.

    Args:
        in_channels (int): Channels of the last backbone/neck feature.
        bins (str): The ab bin set: ``'original313'`` (the released 313 centres),
            ``'srgb_reachable'`` or a path to a .csv/.npy of (Q, 2) centres.
        prior (str, optional): A prior .npz file (``tools/compute_color_prior.py``)
            for class rebalancing, or None for no rebalancing (plain multinomial
            cross-entropy). Defaults to the prior shipped with colorssl.
        prior_sigma (float, optional): Gaussian smoothing (ab units) applied to the
            prior when it is loaded; None when the file is already smoothed (the
            shipped one is; its ``meta`` says so). Defaults to None.
        rebalance_lambda (float): Mix with the uniform distribution (the paper's
            lambda). Defaults to 0.5.
        num_neighbors (int): Bins per soft-encoded target (paper: 5, released
            code: 10). Defaults to 5.
        sigma (float): Gaussian width of the soft encoding. Defaults to 5.
        temperature (float): Annealed-mean temperature of :meth:`predict`.
            Defaults to 0.38.
        pred_stride (int): Prediction resolution is the input's divided by this.
            Defaults to 4.
        target_resize (str): How the ab target is brought to the prediction size:
            ``'area'`` (average over each cell) or ``'nearest'`` (point sampling, as
            the released code's stride-4 subsampling). Defaults to ``'area'``.
        loss (dict): The loss config. Defaults to ``MultinomialColorLoss``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 bins: str = 'original313',
                 prior: Optional[str] = DEFAULT_PRIOR,
                 prior_sigma: Optional[float] = None,
                 rebalance_lambda: float = 0.5,
                 num_neighbors: int = 5,
                 sigma: float = 5.0,
                 temperature: float = 0.38,
                 pred_stride: int = 4,
                 target_resize: str = 'area',
                 loss: dict = dict(type='MultinomialColorLoss'),
                 init_cfg: Optional[dict] = dict(type='Normal', layer='Conv2d',
                                                 std=0.01)):
        super().__init__(init_cfg=init_cfg)
        if target_resize not in ('area', 'nearest'):
            raise ValueError("model.head.target_resize must be 'area' or 'nearest', "
                             f'got {target_resize!r}')
        if temperature <= 0:
            raise ValueError(f'model.head.temperature must be > 0, got {temperature}')
        bin_centres = load_ab_bins(bins)
        self.num_bins = bin_centres.size(0)
        self.temperature = temperature
        self.pred_stride = pred_stride
        self.target_resize = target_resize
        self.register_buffer('bins', bin_centres, persistent=False)
        self.encoder = SoftEncoder(bin_centres, num_neighbors=num_neighbors,
                                   sigma=sigma)
        self.register_buffer('class_weights',
                             self._class_weights(prior, prior_sigma, rebalance_lambda,
                                                 bin_centres),
                             persistent=False)
        self.rebalance = prior is not None
        self.conv_seg = nn.Conv2d(in_channels, self.num_bins, kernel_size=1)
        self.loss_module = MODELS.build(loss)

    @staticmethod
    def _class_weights(prior_file, prior_sigma, lam, bins) -> torch.Tensor:
        """(Q,) rebalancing weight per bin (all ones without a prior)."""
        if prior_file is None:
            return torch.ones(bins.size(0))
        prior = load_prior(prior_file)
        p = prior['prior'].float()
        if p.numel() != bins.size(0):
            raise ValueError(
                f'model.head.prior {prior_file!r} has {p.numel()} bins but '
                f'model.head.bins gives {bins.size(0)}: compute a prior for this bin '
                'set with tools/compute_color_prior.py --bins ...')
        if 'bins' in prior and not torch.allclose(prior['bins'].float(), bins):
            raise ValueError(f'model.head.prior {prior_file!r} was computed for other '
                             'bin centres than model.head.bins')
        if prior_sigma:
            p = smooth_prior(p, bins, sigma=prior_sigma)
        return rebalance_weights(p, lam=lam).float()

    def forward(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]],
                input_size: Tuple[int, int]) -> torch.Tensor:
        """Logits of shape (N, Q, H / pred_stride, W / pred_stride), in
        channels-last memory when they were resized.

        Args:
            feats (Tensor | tuple[Tensor]): The (last) feature map (N, C, h, w).
            input_size (tuple[int, int]): (H, W) of the network input.
        """
        x = feats[-1] if isinstance(feats, (list, tuple)) else feats
        if x.dim() != 4:
            raise ValueError('ColorizationHead needs a spatial feature map (N, C, h, w), '
                             f'got shape {tuple(x.shape)}: remove pooling necks')
        logits = self.conv_seg(x)
        size = self.pred_size(input_size)
        if logits.shape[-2:] != size:
            # Channels-last: the Q bins of a pixel are contiguous, which the
            # loss's softmax over bins reads fastest (see MultinomialColorLoss).
            logits = F.interpolate(
                logits.contiguous(memory_format=torch.channels_last), size=size,
                mode='bilinear', align_corners=False)
        return logits

    def pred_size(self, input_size: Tuple[int, int]) -> Tuple[int, int]:
        h, w = input_size
        return (max(1, h // self.pred_stride), max(1, w // self.pred_stride))

    def resize_target(self, ab: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
        """ab (N, 2, H, W) -> (N, 2, *size)."""
        if ab.shape[-2:] == size:
            return ab
        if self.target_resize == 'area':
            return F.adaptive_avg_pool2d(ab, size)
        stride_h, stride_w = ab.size(2) // size[0], ab.size(3) // size[1]
        return ab[:, :, stride_h // 2::stride_h, stride_w // 2::stride_w][
            :, :, :size[0], :size[1]]

    @torch.no_grad()
    def encode_targets(self, ab: torch.Tensor):
        """Soft-encoded targets and rebalancing weights of an ab map.

        Args:
            ab (Tensor): (N, 2, h, w) ab at the prediction size.

        Returns:
            tuple: ``idx`` (N, K, h, w) long, the K nearest bins, nearest
            first; ``weight`` (N, K, h, w), their target mass; and the
            rebalancing weight of each pixel (N, h, w), that of the arg-max
            of its soft target (its nearest bin), or None without a prior.
        """
        if not self.rebalance:
            return (*self.encoder(ab), None)
        return self.encoder(ab, bin_weight=self.class_weights)

    def loss(self, feats, gt_ab: torch.Tensor,
             sample_mask: Optional[torch.Tensor] = None) -> dict:
        """Compute the loss.

        Args:
            feats (tuple[Tensor]): Backbone/neck features.
            gt_ab (Tensor): (N, 2, H, W) ground-truth ab at input resolution.
            sample_mask (Tensor, optional): (N,) bool, False for samples without
                loss (grayscale images).

        Returns:
            dict: ``loss`` and the logged ``pixel_weight_mean``.
        """
        logits = self(feats, gt_ab.shape[-2:])
        ab = self.resize_target(gt_ab.float(), logits.shape[-2:])
        idx, weight, pixel_weight = self.encode_targets(ab)
        loss = self.loss_module(logits, idx, weight, pixel_weight, sample_mask)
        out = dict(loss=loss)
        if pixel_weight is not None:
            out['pixel_weight_mean'] = pixel_weight.mean().detach()
        return out

    def predict(self, feats, input_size: Tuple[int, int],
                temperature: Optional[float] = None) -> torch.Tensor:
        """Annealed-mean ab (N, 2, H, W) at input size."""
        logits = self(feats, input_size)
        ab = annealed_mean(logits.float(), self.bins,
                           temperature=temperature or self.temperature)
        return F.interpolate(ab, size=tuple(input_size), mode='bilinear',
                             align_corners=False)
