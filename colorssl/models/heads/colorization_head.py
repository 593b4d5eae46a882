"""Colorization head: 1x1 conv to Q ab-bin logits, rebalanced soft-encoded loss,
annealed-mean decoding."""
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from colorssl.color import (DEFAULT_PRIOR, SoftEncoder, annealed_mean, load_ab_bins,
                            load_prior, rebalance_weights, smooth_prior)
from colorssl.models.data_preprocessors import GRAY_THRESHOLD

NAMED_PRIORS = {'cifar10mini': DEFAULT_PRIOR}
"""Priors shipped with colorssl, selected by name in ``model.head.prior``: only for
the data they were computed from (``'cifar10mini'``: the cifar10-mini training
photos)."""

AUTO_PRIOR_SIGMA = 5.0
"""Gaussian smoothing (ab units) of an estimated prior (paper Sec. 2.2)."""


def avg_factor_from_count(global_count: Union[int, float, torch.Tensor],
                          world_size: int) -> torch.Tensor:
    """The loss divisor that makes DDP's gradient average exact.

    Every rank divides its weighted loss sum by ``global_count / world_size``; DDP
    averages the gradients over the ``world_size`` ranks, so the step follows
    ``sum over all ranks / global_count``: the single-process loss of the whole
    global batch. Clamped to >= 1 / world_size (no kept pixel anywhere: the loss
    sums are 0 and stay 0).

    Args:
        global_count (int | float | Tensor): Kept pixels summed over all ranks.
        world_size (int): Number of ranks.

    Returns:
        Tensor: scalar float32.
    """
    count = torch.as_tensor(global_count, dtype=torch.float32)
    return count.clamp(min=1) / world_size


def global_avg_factor(local_count: torch.Tensor) -> torch.Tensor:
    """:func:`avg_factor_from_count` of this rank's kept-pixel count summed over
    ranks with :func:`mmengine.dist.all_reduce` (the count itself when not
    distributed).

    Args:
        local_count (Tensor): scalar, pixels that keep their loss on this rank.
    """
    world_size = get_world_size()
    count = local_count.detach().float().reshape(1).clone()
    if world_size > 1:
        all_reduce(count, op='sum')
    return avg_factor_from_count(count[0], world_size)


@MODELS.register_module()
class ColorizationHead(BaseModule):
    """Predict a distribution over Q quantised ab bins per pixel.

    The logits are produced at ``1 / pred_stride`` of the input resolution (1/4 in the
    paper). Features from a backbone at another stride (e.g. 1/32 for ResNet-50) are
    mapped to Q logits by the 1x1 conv and resized bilinearly to that size.

    **The colour prior** (class rebalancing, paper Sec. 2.2) is the smoothed ab-bin
    distribution of the training images. ``prior='auto'`` (the default) estimates it
    at the start of training from a random sample of ``prior_samples`` training
    images: :class:`colorssl.engine.hooks.ColorPriorHook` (in the colorization
    runtime's ``custom_hooks``) does it, caches it in the work dir and sets it with
    :meth:`set_prior`. The prior lives in persistent buffers (``prior`` (Q,),
    ``prior_mean_ab`` (2,), ``prior_num_images`` ()), so checkpoints carry it: testing,
    colorizing and resuming need no training data; transfer reads only
    ``backbone.*`` keys and ignores them. A config with ``prior='auto'`` and no
    ``ColorPriorHook`` is refused by ``tools/train.py`` before anything is built
    (:func:`colorssl.utils.config_checks.check_color_prior_hook`); under a stock
    tool it fails at the first loss, before any update, with the same advice.

    **Distributed training**: the loss is the weighted sum over kept pixels divided by
    the *global* number of kept pixels over ranks divided by the world size
    (:func:`global_avg_factor`); with DDP's gradient averaging this is exactly the
    single-process loss of the global batch, whatever the grayscale images per rank.

    Args:
        in_channels (int): Channels of the last backbone/neck feature.
        bins (str): The ab bin set: ``'original313'`` (the released 313 centres),
            ``'srgb_reachable'`` or a path to a .csv/.npy of (Q, 2) centres.
        prior (str, optional): ``'auto'`` (estimate from the training data, see
            above), a prior .npz file (``tools/compute_color_prior.py``, or the
            ``color_prior.npz`` that ``'auto'`` leaves in a work dir), a shipped
            prior by name (``'cifar10mini'``: only for cifar10-mini), or None for no
            rebalancing (plain multinomial cross-entropy). Defaults to ``'auto'``.
        prior_samples (int): Training images sampled for ``prior='auto'`` (all when
            the set is smaller). Defaults to 10000.
        prior_sigma (float, optional): Gaussian smoothing (ab units) of the prior:
            for a file, applied when it is loaded (None: the file is already
            smoothed, as tools/compute_color_prior.py writes it); for ``'auto'``,
            None means 5 (the paper). Defaults to None.
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
            ``'area'`` (average over each cell) or ``'nearest'`` (the pixels 0,
            stride, 2 * stride, ... of each axis, as the released code's stride-4
            subsampling). Defaults to ``'area'``.
        loss_normalize (str): What the weighted loss sum is divided by:
            ``'pixel'`` the number of prediction pixels of the images that keep
            their loss (a per-pixel mean) or ``'image'`` the number of images in
            the batch, grayscale ones included (the released Caffe training: the
            sum over the output pixels divided by the batch size). Under Adam the
            two differ only in how strong a coupled L2 weight decay is relative
            to the loss gradient (docs/colorization.md). Defaults to ``'pixel'``.
        gray_test (str): Which ab decides that an image is grayscale (no loss):
            ``'full'`` the full-resolution target (the data preprocessor's
            ``is_gray``; the paper removes grayscale images) or ``'target'`` the
            target at prediction size (after ``target_resize``; the released
            training code tests its subsampled ab). Defaults to ``'full'``.
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
        if target_resize not in ('area', 'nearest'):
            raise ValueError("model.head.target_resize must be 'area' or 'nearest', "
                             f'got {target_resize!r}')
        if loss_normalize not in ('pixel', 'image'):
            raise ValueError("model.head.loss_normalize must be 'pixel' or 'image', "
                             f'got {loss_normalize!r}')
        if gray_test not in ('full', 'target'):
            raise ValueError("model.head.gray_test must be 'full' or 'target', got "
                             f'{gray_test!r}')
        if temperature <= 0:
            raise ValueError(f'model.head.temperature must be > 0, got {temperature}')
        if not (isinstance(prior_samples, int) and prior_samples >= 1):
            raise ValueError('model.head.prior_samples must be an int >= 1, got '
                             f'{prior_samples!r}')
        if not (0 <= rebalance_lambda <= 1):
            raise ValueError('model.head.rebalance_lambda must be in [0, 1], got '
                             f'{rebalance_lambda}')
        bin_centres = load_ab_bins(bins)
        self.num_bins = bin_centres.size(0)
        self.temperature = temperature
        self.pred_stride = pred_stride
        self.target_resize = target_resize
        self.gray_test = gray_test
        self.loss_normalize = loss_normalize
        self.prior_source = NAMED_PRIORS.get(prior, prior) if isinstance(prior,
                                                                         str) else prior
        self.prior_samples = prior_samples
        self.prior_sigma = prior_sigma
        self.rebalance_lambda = rebalance_lambda
        self.rebalance = prior is not None
        self.register_buffer('bins', bin_centres, persistent=False)
        self.encoder = SoftEncoder(
            bin_centres, num_neighbors=num_neighbors, sigma=sigma)
        # The prior travels in checkpoints; the weights follow from it.
        self.register_buffer('prior', torch.zeros(self.num_bins))
        self.register_buffer('prior_mean_ab', torch.zeros(2))
        self.register_buffer('prior_num_images', torch.zeros((), dtype=torch.long))
        self.register_buffer(
            'class_weights', torch.ones(self.num_bins), persistent=False)
        if self.rebalance and not self.auto_prior:
            self._load_prior_file(self.prior_source, prior_sigma, bin_centres)
        self.register_load_state_dict_post_hook(self._prior_loaded)
        self.conv_seg = nn.Conv2d(in_channels, self.num_bins, kernel_size=1)
        self.loss_module = MODELS.build(loss)

    # ----------------------------------------------------------------- the prior
    @property
    def auto_prior(self) -> bool:
        """True when the prior is to be estimated from the training data."""
        return self.prior_source == 'auto'

    @property
    def has_prior(self) -> bool:
        """True when rebalancing weights are set (from a file, an estimate or a
        checkpoint), or when there is no rebalancing."""
        return not self.rebalance or bool(self.prior.sum() > 0)

    def _load_prior_file(self, prior_file, prior_sigma, bins) -> None:
        if not osp.isfile(prior_file):
            raise FileNotFoundError(
                f'model.head.prior {prior_file!r} is not a file: give a prior .npz '
                "(tools/compute_color_prior.py), 'auto' (estimate it from the training "
                f"data), one of {sorted(NAMED_PRIORS)} or None (no rebalancing)")
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
        meta = prior.get('meta', {})
        mean_ab = meta.get('mean_ab')
        self.set_prior(
            p,
            num_images=int(meta.get('num_images_used', -1)),
            mean_ab=None if mean_ab is None else torch.as_tensor(mean_ab))

    def set_prior(self,
                  prior: torch.Tensor,
                  num_images: int = -1,
                  mean_ab: Optional[torch.Tensor] = None) -> None:
        """Set the colour prior (already smoothed) and the rebalancing weights.

        Args:
            prior (Tensor): (Q,) non-negative bin frequencies (normalised here).
            num_images (int): Images it was estimated from (-1: unknown), kept
                in the ``prior_num_images`` buffer.
            mean_ab (Tensor, optional): (2,) mean ab of those images; None: the
                prior's mean bin centre (a bin-quantised estimate).
        """
        prior = torch.as_tensor(prior).detach().float().reshape(-1)
        if prior.numel() != self.num_bins or not bool(prior.sum() > 0) or \
                bool((prior < 0).any()):
            raise ValueError(f'a prior must be {self.num_bins} non-negative values '
                             f'with a positive sum, got shape {tuple(prior.shape)}')
        prior = prior / prior.sum()
        self.prior.copy_(prior.to(self.prior))
        self.prior_num_images.fill_(int(num_images))
        if mean_ab is None:
            mean_ab = (prior[:, None] * self.bins.to(prior)).sum(0)
        self.prior_mean_ab.copy_(torch.as_tensor(mean_ab).float().reshape(2))
        self._update_weights()

    @property
    def train_mean_ab(self) -> Optional[torch.Tensor]:
        """(2,) mean ab of the training images the prior came from (the
        ``prior_mean_ab`` buffer), or None when the head has no prior."""
        if not (self.rebalance and bool(self.prior.sum() > 0)):
            return None
        return self.prior_mean_ab

    def _update_weights(self) -> None:
        if self.rebalance and bool(self.prior.sum() > 0):
            self.class_weights.copy_(
                rebalance_weights(self.prior.double(),
                                  lam=self.rebalance_lambda).to(self.class_weights))
        else:
            self.class_weights.fill_(1.)

    @staticmethod
    def _prior_loaded(module, incompatible_keys) -> None:
        # load_state_dict post hook: weights follow the loaded prior buffer.
        module._update_weights()

    # --------------------------------------------------------------- prediction
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
            raise ValueError(
                'ColorizationHead needs a spatial feature map (N, C, h, w), '
                f'got shape {tuple(x.shape)}: remove pooling necks')
        logits = self.conv_seg(x)
        size = self.pred_size(input_size)
        if logits.shape[-2:] != size:
            # Channels-last: the Q bins of a pixel are contiguous, which the
            # loss's softmax over bins reads fastest (see MultinomialColorLoss).
            logits = F.interpolate(
                logits.contiguous(memory_format=torch.channels_last),
                size=size,
                mode='bilinear',
                align_corners=False)
        return logits

    def pred_size(self, input_size: Tuple[int, int]) -> Tuple[int, int]:
        h, w = input_size
        return (max(1, h // self.pred_stride), max(1, w // self.pred_stride))

    def resize_target(self, ab: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
        """ab (N, 2, H, W) -> (N, 2, *size).

        ``'area'``: the mean over each cell (adaptive average pooling);
        ``'nearest'``: ``ab[..., ::sh, ::sw]`` cut to ``size``: rows and columns 0,
        s, 2 s, ... with ``s = pred_stride`` when ``size`` is the prediction size
        of (H, W) (as the released stride-4 1x1 convolution), else
        ``sh = H // size[0]``, ``sw = W // size[1]``.
        """
        if ab.shape[-2:] == size:
            return ab
        if self.target_resize == 'area':
            return F.adaptive_avg_pool2d(ab, size)
        stride_h, stride_w = ab.size(2) // size[0], ab.size(3) // size[1]
        if tuple(size) == self.pred_size(ab.shape[-2:]):
            stride_h = stride_w = self.pred_stride
        return ab[:, :, ::stride_h, ::stride_w][:, :, :size[0], :size[1]]

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

    def loss(self,
             feats,
             gt_ab: torch.Tensor,
             sample_mask: Optional[torch.Tensor] = None,
             gray_thresh: float = GRAY_THRESHOLD) -> dict:
        """Compute the loss.

        Args:
            feats (tuple[Tensor]): Backbone/neck features.
            gt_ab (Tensor): (N, 2, H, W) ground-truth ab at input resolution.
            sample_mask (Tensor, optional): (N,) bool, False for samples without
                loss (grayscale at full resolution). Replaced by the test on the
                resized target when ``gray_test='target'``.
            gray_thresh (float): The grayscale threshold of ``gray_test='target'``
                (the data preprocessor's). Defaults to :data:`GRAY_THRESHOLD`.

        Returns:
            dict: ``loss``, the logged ``pixel_weight_mean`` (with a prior) and,
            with ``gray_test='target'``, ``num_gray`` by that test.

        Raises:
            RuntimeError: ``prior='auto'`` and no prior was estimated (the
                :class:`ColorPriorHook` is missing from ``custom_hooks``).
        """
        if not self.has_prior:
            raise RuntimeError(
                "model.head.prior='auto' but no colour prior was estimated: add "
                "dict(type='ColorPriorHook') to custom_hooks (the colorization "
                "runtime config has it; a config that sets custom_hooks replaces that "
                'list), or set model.head.prior to a prior file or None')
        logits = self(feats, gt_ab.shape[-2:])
        ab = self.resize_target(gt_ab.float(), logits.shape[-2:])
        out = {}
        if self.gray_test == 'target':
            sample_mask = ab.abs().flatten(1).amax(1) > gray_thresh
            out['num_gray'] = (~sample_mask).sum().float()
        idx, weight, pixel_weight = self.encode_targets(ab)
        if self.loss_normalize == 'image':
            num_kept = torch.tensor(ab.size(0), device=ab.device)
        else:
            num_kept = (sample_mask.sum() if sample_mask is not None else torch.tensor(
                ab.size(0))) * ab[0, 0].numel()
        if get_world_size() > 1 or self.loss_normalize == 'image':
            # Divide by the global count / world size (see the class docstring).
            out['loss'] = self.loss_module(
                logits,
                idx,
                weight,
                pixel_weight,
                sample_mask,
                avg_factor=global_avg_factor(num_kept))
        else:
            out['loss'] = self.loss_module(logits, idx, weight, pixel_weight,
                                           sample_mask)
        if pixel_weight is not None:
            out['pixel_weight_mean'] = pixel_weight.mean().detach()
        return out

    def predict(self,
                feats,
                input_size: Tuple[int, int],
                temperature: Optional[float] = None) -> torch.Tensor:
        """Annealed-mean ab (N, 2, H, W) at input size."""
        logits = self(feats, input_size)
        ab = annealed_mean(
            logits.float(), self.bins, temperature=temperature or self.temperature)
        return F.interpolate(
            ab, size=tuple(input_size), mode='bilinear', align_corners=False)
