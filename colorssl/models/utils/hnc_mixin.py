"""HNC loss terms and negative-CAM statistics of the HNC heads and classifier."""
import logging
from typing import Callable, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from .negative_selection import positive_mask, select_negatives, soft_positive_mask

#: DataSample field of the per-sample negative-CAM statistics.
NEG_CAM_STATS_FIELD = 'neg_cam_stats'


@torch.no_grad()
def negative_cam_stats(cams: Tensor, scores: Tensor, positive: Tensor, exclude: Tensor,
                       k: int) -> dict:
    """Per-sample statistics of the top-k negative CAMs and the target CAMs.

    The *contrast* of a CAM is its spatial max minus its spatial mean.

    Args:
        cams (Tensor): CAMs of all classes, shape (N, K, H, W).
        scores (Tensor): Logits, shape (N, K), selecting the negatives.
        positive (Tensor): Bool (N, K), the target classes.
        exclude (Tensor): Bool (N, K), classes never used as negatives.
        k (int): Negatives per sample.

    Returns:
        dict[str, Tensor]: Float (N, ), NaN where undefined: ``neg_contrast``
        and ``neg_peak`` (largest over the negatives), ``tgt_contrast`` and
        ``tgt_peak`` (largest over the positives), ``pos_share`` (share of
        positive positions in the negative CAMs).
    """
    idx, valid = select_negatives(scores, exclude, k)
    full = cams.float().flatten(2)  # (N, K, P)
    neg = torch.take_along_dim(full, idx[..., None], dim=1)  # (N, k, P)

    def masked_max(v, m):
        out = v.masked_fill(~m, float('-inf')).amax(1)
        return out.masked_fill(~m.any(1), float('nan'))

    neg_max, full_max = neg.amax(-1), full.amax(-1)
    return dict(
        neg_contrast=masked_max(neg_max - neg.mean(-1), valid),
        tgt_contrast=masked_max(full_max - full.mean(-1), positive),
        neg_peak=masked_max(neg_max, valid),
        tgt_peak=masked_max(full_max, positive),
        pos_share=((neg > 0).float().mean(-1) * valid).sum(1) / valid.sum(1))


class HNCMixin:
    """HNC for a module with ``num_classes``: label masks, loss, statistics."""

    def _init_hnc(self, hnc_loss: Optional[dict], cam_stats_k: Optional[int],
                  prefix: str) -> None:
        """Build ``hnc_loss``; check it and ``cam_stats_k`` under config ``prefix``."""
        if isinstance(hnc_loss, dict):
            hnc_loss = MODELS.build(hnc_loss)
        if hnc_loss is not None:
            hnc_loss.check_num_classes(self.num_classes, key=f'{prefix}.hnc_loss.k')
        self.hnc_loss = hnc_loss  # no parameters: the state dict stays the stock one
        if cam_stats_k is None and hnc_loss is not None:
            cam_stats_k = hnc_loss.k
        elif cam_stats_k is None:
            cam_stats_k = min(5, self.num_classes - 1)
        if not (isinstance(cam_stats_k, int) and 0 <= cam_stats_k < self.num_classes):
            raise ValueError(f'{prefix}.cam_stats_k={cam_stats_k!r} must be an integer '
                             f'in [0, num_classes={self.num_classes}); 0 disables the '
                             'negative-CAM statistics.')
        self.cam_stats_k = cam_stats_k

    def _label_masks(self, data_samples: List[DataSample],
                     device) -> Tuple[Tensor, Tensor]:
        """Bool (N, K) masks ``positive`` and ``exclude`` (never negatives).

        Positives are the ``gt_label`` classes, or with ``gt_score`` those of
        :func:`soft_positive_mask` plus the ``gt_label`` classes the samples
        still carry; ``exclude`` adds the ``gt_label_difficult`` classes.
        """
        num_classes = self.num_classes

        def hard(labels):  # per sample a list of classes -> (N, K)
            return torch.stack([
                positive_mask(
                    torch.as_tensor(lb, device=device).view(-1).long(),
                    num_classes).any(0) for lb in labels
            ])

        positive = None
        if all('gt_label' in ds for ds in data_samples):
            positive = hard([ds.gt_label for ds in data_samples])
        if 'gt_score' in data_samples[0]:
            scores = torch.stack([ds.gt_score for ds in data_samples]).to(device)
            soft, underived = soft_positive_mask(scores, num_classes)
            if positive is not None:
                soft, underived = soft | positive, underived & ~positive.any(1)
            if underived.any() and not getattr(self, '_warned_underived', False):
                self._warned_underived = True
                print_log(
                    f'{type(self).__name__}: {int(underived.sum())} of '
                    f'{len(data_samples)} samples have a flat gt_score and no '
                    'gt_label, so no positive class: they add no HNC term and no '
                    'negative-CAM statistics. Logged once.',
                    logger='current',
                    level=logging.WARNING)
            positive = soft | underived[:, None]
        difficult = hard([ds.get('gt_label_difficult', []) for ds in data_samples])
        return positive, positive | difficult

    def _hnc_losses(self, scores: Tensor, data_samples: List[DataSample],
                    neg_cams: Callable[[Tensor], Tensor]) -> dict:
        """``loss_hnc`` and the logged ``hnc_neg_pos_share`` ({} without HNC).

        Args:
            scores (Tensor): Logits (N, K) that select the negatives.
            data_samples (List[DataSample]): With ``gt_label`` or ``gt_score``.
            neg_cams (Callable): Class indices (N, k) to their CAMs
                (N, k, H, W) or (N, k, H*W).
        """
        _, exclude = self._label_masks(data_samples, scores.device)
        if self.hnc_loss is None:
            return {}
        idx, valid = select_negatives(scores, exclude, self.hnc_loss.k)
        cams = neg_cams(idx)
        with torch.no_grad():
            pos = (cams.flatten(2) > 0).float().mean(-1)
            share = (pos * valid).sum() / valid.sum().clamp(min=1)
        loss = self.hnc_loss(cams, valid, avg_factor=scores.size(0))
        return dict(loss_hnc=loss, hnc_neg_pos_share=share)

    def _wants_cam_stats(self, data_samples: Optional[List[DataSample]]) -> bool:
        """Whether prediction stores ``neg_cam_stats``: every sample has GT."""
        return self.cam_stats_k > 0 and bool(data_samples) and all(
            'gt_label' in ds or 'gt_score' in ds for ds in data_samples)

    def _add_cam_stats(self, predictions: List[DataSample],
                       data_samples: List[DataSample], scores: Tensor,
                       cams: Tensor) -> None:
        """Set ``neg_cam_stats`` of each prediction from the logits (N, K) and
        the CAMs of all classes (N, K, H, W)."""
        positive, exclude = self._label_masks(data_samples, scores.device)
        stats = negative_cam_stats(cams, scores, positive, exclude, self.cam_stats_k)
        for i, ds in enumerate(predictions):
            ds.set_field(
                dict((n, v[i].item()) for n, v in stats.items()), NEG_CAM_STATS_FIELD)
