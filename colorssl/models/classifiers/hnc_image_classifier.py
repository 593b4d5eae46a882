"""``HNCImageClassifier``: a stock ``ImageClassifier`` plus the HNC loss.

One model line turns any mmpretrain classifier config into an HNC one; its
backbone, neck and head stay as they are, so logits and state dict equal the
stock model's::

    model = dict(type='HNCImageClassifier',
                 hnc_loss=dict(type='HNCLoss', k=100, loss_weight=0.0065))

Spatial map. During ``extract_feat`` forward hooks on every module of the
backbone and neck record their outputs; the map is the last one (in order of
completion) that is a (N, C, H, W) map larger than 1x1 or (N, L, C) tokens (the
backbone's ``num_extra_tokens`` leading class/distillation tokens dropped, the rest a
square grid) with C equal to the channels the head receives. So it is the
map a ``GlobalAveragePooling`` neck pools (ResNet, Swin, HRNet's fused map,
...), or, for a backbone that pools internally (ViT/DeiT ``cls_token``,
ConvNeXt ``gap_before_final_norm``, TinyViT, EdgeNeXt ...), its last spatial
feature before pooling (and before a norm applied after pooling).

CAM. The head, in eval mode, applied at each position of the map: for a
linear head ``M_c(p) = W[c] . f(p) + b[c]``; for heads with hidden layers
(``VisionTransformerClsHead`` with ``hidden_dim``, ``StackedLinearClsHead``,
DeiT's two heads) the whole head at each position.
"""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models import ImageClassifier, MultiLabelClsHead
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..heads.cam import cam_stats
from ..heads.hnc_head_mixin import NEG_CAM_STATS_FIELD, HNCHeadMixin
from ..utils.negative_selection import select_negatives


def _last(x):
    """The last tensor of a (nested) tuple/list, else None."""
    while isinstance(x, (tuple, list)) and len(x):
        x = x[-1]
    return x if isinstance(x, Tensor) else None


def _as_map(x: Tensor, channels: int, extra_tokens: int) -> Optional[Tensor]:
    """(N, C, H, W) from a map or (N, L, C) tokens with C == channels.

    A 1x1 map (the output of a pooling layer) does not count.
    """
    if x.dim() == 4 and x.size(1) == channels and x.shape[2:].numel() > 1:
        return x
    if x.dim() == 3 and x.size(2) == channels:
        for extra in (extra_tokens, 0):
            side = math.isqrt(max(x.size(1) - extra, 0))
            if side > 1 and side * side == x.size(1) - extra:
                tokens = x[:, extra:].transpose(1, 2)
                return tokens.reshape(x.size(0), channels, side, side)
    return None


@MODELS.register_module()
class HNCImageClassifier(ImageClassifier):
    """mmpretrain's ``ImageClassifier`` that adds ``loss_hnc`` in training.

    Args:
        hnc_loss (dict, optional): e.g. ``dict(type='HNCLoss', k=100)``.
            None trains the plain classifier (still storing CAM statistics
            in prediction). Defaults to None.
        cam_stats_k (int, optional): Negatives per sample for the
            ``neg_cam_stats`` of prediction (``NegativeCAMMetric``); 0
            disables them. Defaults to ``hnc_loss.k`` or
            ``min(5, num_classes - 1)``.
        **kwargs: ``ImageClassifier``'s arguments (backbone, neck, head, ...).
    """

    def __init__(self,
                 hnc_loss: Optional[dict] = None,
                 cam_stats_k: Optional[int] = None,
                 **kwargs):
        super().__init__(**kwargs)
        head = self.head
        if not hasattr(head, 'num_classes'):
            raise TypeError(
                f'HNCImageClassifier needs a head with class weights (`num_classes`): '
                f'backbone {type(self.backbone).__name__} with head '
                f'{type(head).__name__} has none (the backbone classifies itself). '
                'Let the backbone end in features (e.g. backbone.num_classes=-1) and '
                'use a LinearClsHead.')
        self.num_classes = head.num_classes
        multi = (MultiLabelClsHead, MultiLabelLinearClsHead)
        self._multi_label = isinstance(head, multi)
        if hnc_loss is not None and not isinstance(hnc_loss, nn.Module):
            hnc_loss = MODELS.build(hnc_loss)
        if hnc_loss is not None:
            hnc_loss.check_num_classes(self.num_classes, key='model.hnc_loss.k')
        self.hnc_loss = hnc_loss
        if cam_stats_k is None:
            cam_stats_k = hnc_loss.k if hnc_loss is not None else min(
                5, self.num_classes - 1)
        self.cam_stats_k = cam_stats_k

    # Label masks (hard, multi-label, soft, mixed) as in the HNC heads.
    _label_masks = HNCHeadMixin._label_masks
    _warn_no_hard_label = HNCHeadMixin._warn_no_hard_label

    def feats_and_map(self, inputs: Tensor) -> Tuple[tuple, Tensor]:
        """``extract_feat(inputs)`` and the spatial map (N, C, H, W)."""
        outputs: List[Tensor] = []
        hooks = [
            m.register_forward_hook(lambda m, i, o: outputs.append(_last(o)))
            for part in (self.backbone, self.neck) if part is not None
            for m in part.modules()
        ]
        try:
            feats = self.extract_feat(inputs)
        finally:
            for h in hooks:
                h.remove()
        last = _last(feats)
        if last is not None and last.dim() == 4:
            return feats, last
        channels = last.size(-1) if last is not None else -1
        extra = getattr(self.backbone, 'num_extra_tokens', 0)
        for out in reversed(outputs):
            fmap = None if out is None else _as_map(out, channels, extra)
            if fmap is not None:
                return feats, fmap
        raise TypeError(
            f'HNCImageClassifier found no spatial feature map with {channels} '
            f'channels in backbone {type(self.backbone).__name__} / neck '
            f'{type(self.neck).__name__} for head {type(self.head).__name__}. '
            'Give the head a (N, C, H, W) map or (N, C) pooled features, or use an '
            'HNC head (HNCLinearClsHead) with model.neck=None.')

    def _head_eval(self, feats):
        """The head's logits (N, K) in eval mode (no dropout, BN running stats)."""
        mode = self.head.training
        self.head.eval()
        try:
            out = self.head(feats)
        finally:
            self.head.train(mode)
        return out

    def cams(self, feats: tuple, fmap: Tensor) -> Tensor:
        """CAMs of all classes, (N, K, H, W): the head at each position of ``fmap``."""
        n, c, h, w = fmap.shape
        loc = fmap.permute(0, 2, 3, 1).reshape(n * h * w, c)
        if _last(feats).dim() == 4:
            loc = loc[..., None, None]
        last = feats[-1]
        if isinstance(last, (tuple, list)):  # e.g. DeiT's (cls, dist) tokens
            loc = type(last)([loc] * len(last))
        cams = self._head_eval(tuple(feats[:-1]) + (loc, ))
        return cams.reshape(n, h, w, -1).permute(0, 3, 1, 2)

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        """The head's losses plus ``loss_hnc`` and ``hnc_neg_pos_share`` (logged)."""
        feats, fmap = self.feats_and_map(inputs)
        losses = self.head.loss(feats, data_samples)
        if self.hnc_loss is None:
            return losses
        with torch.no_grad():
            scores = self._head_eval(feats)
        _, exclude = self._label_masks(data_samples, scores.device)
        idx, valid = select_negatives(scores, exclude, self.hnc_loss.k)
        cams = self.cams(feats, fmap).flatten(2)
        neg = cams.gather(1, idx[..., None].expand(-1, -1, cams.size(2)))
        losses['loss_hnc'] = self.hnc_loss(neg, valid, avg_factor=scores.size(0))
        with torch.no_grad():
            pos = (neg > 0).float().mean(-1)
            share = (pos * valid).sum() / valid.sum().clamp(min=1)
        losses['hnc_neg_pos_share'] = share
        return losses

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Stock predictions, plus ``neg_cam_stats`` when every sample has GT."""
        feats, fmap = self.feats_and_map(inputs)
        predictions = self.head.predict(feats, data_samples, **kwargs)
        has_gt = bool(data_samples) and all('gt_label' in ds or 'gt_score' in ds
                                            for ds in data_samples)
        if self.cam_stats_k > 0 and has_gt:
            scores = self._head_eval(feats)
            positive, exclude = self._label_masks(data_samples, scores.device)
            stats = cam_stats(
                self.cams(feats, fmap), scores, positive, exclude, self.cam_stats_k)
            for i, ds in enumerate(predictions):
                ds.set_field({
                    k: v[i].item()
                    for k, v in stats.items()
                }, NEG_CAM_STATS_FIELD)
        return predictions
