"""Behaviour shared by the HNC classification heads.

The HNC heads take the spatial feature map (``neck=None``), pool it themselves
and apply the same ``fc`` as mmpretrain's linear heads, so their parameters,
logits, ``pre_logits`` and predictions equal the stock head on a
``GlobalAveragePooling`` neck. Training adds the HNC term on the CAMs of the k
selected negatives; prediction (when ground truth is present) stores
negative-CAM statistics for :class:`~colorssl.evaluation.metrics.NegativeCAMMetric`.
"""
import logging
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..utils.negative_selection import (positive_mask, select_negatives,
                                        soft_positive_mask)
from .cam import class_activation_maps, negative_cam_stats, to_spatial_map

#: Name of the DataSample field holding the per-sample negative-CAM statistics.
NEG_CAM_STATS_FIELD = 'neg_cam_stats'


class HNCHeadMixin:
    """Mixin for a stock mmpretrain linear head (``fc``, ``num_classes``).

    Put it first in the bases, e.g. ``class H(HNCHeadMixin, LinearClsHead)``,
    and set ``_multi_label``: ``__init__``, ``loss`` and ``predict`` come from
    here, everything else from the stock head.

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Channels C of the input feature map.
        hnc_loss (dict, optional): Config of the HNC loss, e.g.
            ``dict(type='HNCLoss', k=100, mode='kd', loss_weight=0.0065)``.
            None trains with the classification loss only (the plain
            baseline, still reporting CAM statistics). Defaults to None.
        cam_stats_k (int, optional): Negatives per sample for the evaluation
            statistics; 0 disables them. Defaults to ``hnc_loss.k``, or
            ``min(5, num_classes - 1)`` without HNC.
        num_extra_tokens (int): Leading non-patch tokens to drop when the
            backbone returns raw ViT tokens (N, L, C). Defaults to 1.
        **kwargs: The stock head's other arguments (``loss``, ``topk``,
            ``init_cfg``, ...).
    """

    #: Whether ``gt_label`` holds several classes per sample.
    _multi_label = False

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 hnc_loss: Optional[dict] = None,
                 cam_stats_k: Optional[int] = None,
                 num_extra_tokens: int = 1,
                 **kwargs):
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)
        if hnc_loss is not None and not isinstance(hnc_loss, nn.Module):
            hnc_loss = MODELS.build(hnc_loss)
        if hnc_loss is not None:
            if not hasattr(hnc_loss, 'k'):
                raise TypeError('model.head.hnc_loss must be an HNCLoss-like '
                                f'module with a `k`, got {type(hnc_loss)}')
            hnc_loss.check_num_classes(self.num_classes, key='model.head.hnc_loss.k')
        # HNCLoss has neither parameters nor buffers, so registering it as a
        # sub-module leaves the state dict equal to the stock head's.
        self.hnc_loss = hnc_loss

        if cam_stats_k is None:
            cam_stats_k = hnc_loss.k if hnc_loss is not None else min(
                5, self.num_classes - 1)
        if not isinstance(cam_stats_k,
                          int) or not (0 <= cam_stats_k < self.num_classes):
            raise ValueError(
                f'model.head.cam_stats_k={cam_stats_k!r} must be an integer in '
                f'[0, num_classes={self.num_classes}); 0 disables the '
                'negative-CAM statistics.')
        self.cam_stats_k = cam_stats_k
        self.num_extra_tokens = num_extra_tokens

    # ---------------------------------------------------------------- forward
    def feature_map(self, feats) -> Tensor:
        """The last-stage feature as a map, shape (N, C, H, W)."""
        return to_spatial_map(
            feats, self.num_extra_tokens, owner=f'model.head ({type(self).__name__})')

    def pre_logits(self, feats: Tuple[Tensor]) -> Tensor:
        """Globally average-pooled feature, shape (N, C).

        Identical to the stock head's ``pre_logits`` behind a
        ``GlobalAveragePooling`` neck, so ``extract_feat(stage='pre_logits')``
        keeps its meaning.
        """
        return self.feature_map(feats).mean(dim=(2, 3))

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """Logits, shape (N, K): equal to the spatial mean of every CAM."""
        return self.fc(self.pre_logits(feats))

    def cams(self, feats, class_idx: Optional[Tensor] = None) -> Tensor:
        """CAMs of all classes (N, K, H, W), or of ``class_idx`` (N, k)."""
        return class_activation_maps(
            self.feature_map(feats), self.fc.weight, self.fc.bias, class_idx)

    # ----------------------------------------------------------------- labels
    def _label_masks(self, data_samples: List[DataSample],
                     device) -> Tuple[Tensor, Tensor]:
        """(positive, exclude) bool masks (N, K) from the data samples.

        Hard labels (``gt_label``) are the positives where there is no
        ``gt_score``. With ``gt_score`` (Mixup/CutMix, ``to_onehot``, soft
        labels) the positives are those of
        :func:`~colorssl.models.utils.negative_selection.soft_positive_mask`
        (the non-zero classes of a sparse target, the classes above the row
        mean of a dense, e.g. smoothed, one) plus the ``gt_label`` classes
        when the samples still carry them (mmpretrain's data preprocessor
        keeps the original label next to the mixed score). A sample whose
        positives cannot be derived (a flat dense score and no ``gt_label``)
        keeps every class out of its negatives, with a warning logged once.
        ``exclude`` adds VOC-style ``gt_label_difficult`` classes to the
        positives: present in the image, so never pushed as negatives.
        """
        num_classes = self.num_classes
        key = 'model.head.num_classes'
        if 'gt_score' in data_samples[0]:
            target = torch.stack([ds.gt_score for ds in data_samples]).to(device)
            if target.dim() != 2 or target.size(1) != num_classes:
                positive_mask(target, num_classes, key)  # raises, naming key
            positive, underived = soft_positive_mask(target)
            if all('gt_label' in ds for ds in data_samples):
                hard = torch.stack([
                    positive_mask(ds.gt_label.view(-1).to(device), num_classes,
                                  key).any(0) for ds in data_samples
                ])
                positive |= hard
                underived &= ~hard.any(1)
            if underived.any():
                self._warn_no_hard_label(int(underived.sum()), len(data_samples))
                positive[underived] = True
        elif self._multi_label:
            positive = torch.stack([
                positive_mask(ds.gt_label.view(-1).to(device), num_classes, key).any(0)
                for ds in data_samples
            ])
        else:
            target = torch.cat([ds.gt_label.view(-1) for ds in data_samples])
            if target.numel() != len(data_samples):
                raise ValueError(
                    f'{type(self).__name__} expects one label per sample; use '
                    'HNCMultiLabelLinearClsHead for multi-label data.')
            positive = positive_mask(target.to(device), num_classes, key)
        exclude = positive.clone()
        for i, ds in enumerate(data_samples):
            difficult = ds.get('gt_label_difficult', None)
            if difficult is not None and len(difficult):
                difficult = torch.as_tensor(difficult, device=device).view(-1)
                exclude[i] |= positive_mask(difficult.long(), num_classes, key).any(0)
        return positive, exclude

    def _warn_no_hard_label(self, num_bad: int, num_samples: int) -> None:
        """Log, once per head, that some samples have no derivable label."""
        if getattr(self, '_warned_no_hard_label', False):
            return
        self._warned_no_hard_label = True
        print_log(
            f'{type(self).__name__}: {num_bad} of {num_samples} samples carry '
            'a soft target (gt_score) with every class scoring the same and '
            'no gt_label, so no positive class can be derived from them. '
            'Every class is kept out of their negatives: they add no HNC term '
            '(and no negative-CAM statistics). Positives of soft targets are '
            'the non-zero classes, or, when no class scores 0 (e.g. a '
            'smoothed target), the classes above the row mean (1/num_classes '
            'for a normalised target). This warning is logged once.',
            logger='current',
            level=logging.WARNING)

    # ------------------------------------------------------------------- loss
    def _hnc_losses(self, feat_map: Tensor, cls_score: Tensor,
                    exclude: Tensor) -> Dict[str, Tensor]:
        """HNC term plus a logged (non-loss) positive-pixel share."""
        idx, valid = select_negatives(cls_score, exclude, self.hnc_loss.k)
        # Only the k selected CAMs are built, so autograd holds (N, k, C)
        # gathered weights and (N, k, H, W) CAMs, never K of them.
        neg_cams = class_activation_maps(feat_map, self.fc.weight, self.fc.bias, idx)
        loss = self.hnc_loss(neg_cams, valid, avg_factor=cls_score.size(0))
        with torch.no_grad():
            pos = (neg_cams.flatten(2) > 0).float().mean(-1)
            share = (pos * valid).sum() / valid.sum().clamp(min=1)
        return {'loss_hnc': loss, 'hnc_neg_pos_share': share}

    def loss(self, feats: Tuple[Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """Classification loss (``loss``) plus ``loss_hnc``.

        Args:
            feats (tuple[Tensor]): Backbone outputs; the last one is a
                (N, C, H, W) map or (N, L, C) tokens.
            data_samples (List[DataSample]): With ``gt_label`` or
                ``gt_score``.
            **kwargs: Passed to the stock head's classification loss.

        Returns:
            dict[str, Tensor]: The stock head's losses (``loss``, optional
            accuracies), ``loss_hnc`` (when ``hnc_loss`` is set) and
            ``hnc_neg_pos_share`` (logged, not a loss).
        """
        feat_map = self.feature_map(feats)
        cls_score = self.fc(feat_map.mean(dim=(2, 3)))
        # Validates label ranges before the classification loss sees them.
        _, exclude = self._label_masks(data_samples, cls_score.device)
        losses = self._get_loss(cls_score, data_samples, **kwargs)
        if self.hnc_loss is not None:
            losses.update(self._hnc_losses(feat_map, cls_score, exclude))
        return losses

    # ------------------------------------------------------------- prediction
    def predict(self,
                feats: Tuple[Tensor],
                data_samples: Optional[List[Optional[DataSample]]] = None
                ) -> List[DataSample]:
        """The stock head's predictions, plus ``neg_cam_stats`` with GT.

        Args:
            feats (tuple[Tensor]): Backbone outputs, as in :meth:`loss`.
            data_samples (List[DataSample], optional): When every sample has
                ``gt_label`` or ``gt_score`` (and ``cam_stats_k > 0``), each
                prediction gets the per-sample negative-CAM statistics of
                :func:`~colorssl.models.heads.cam.negative_cam_stats` in its
                ``neg_cam_stats`` field.

        Returns:
            List[DataSample]: One per sample.
        """
        feat_map = self.feature_map(feats)
        cls_score = self.fc(feat_map.mean(dim=(2, 3)))
        predictions = self._get_predictions(cls_score, data_samples)
        has_gt = data_samples is not None and len(data_samples) > 0 and all(
            'gt_label' in ds or 'gt_score' in ds for ds in data_samples)
        if self.cam_stats_k > 0 and has_gt:
            positive, exclude = self._label_masks(data_samples, cls_score.device)
            stats = negative_cam_stats(feat_map, self.fc.weight, self.fc.bias,
                                       cls_score, positive, exclude, self.cam_stats_k)
            for i, ds in enumerate(predictions):
                ds.set_field({
                    name: v[i].item()
                    for name, v in stats.items()
                }, NEG_CAM_STATS_FIELD)
        return predictions
