"""HNC for mmpretrain's linear heads, which then pool the spatial map themselves."""
from functools import partial
from typing import List, Optional, Tuple

from mmpretrain.structures import DataSample
from torch import Tensor

from ..utils.hnc_mixin import HNCMixin
from .cam import class_activation_maps, to_spatial_map


class HNCHeadMixin(HNCMixin):
    """Mixin for a stock linear head with ``fc``, put first in the bases.

    The head takes the map of a backbone with ``neck=None`` and average-pools
    it, so logits, ``pre_logits`` and the state dict equal the stock head's
    behind a ``GlobalAveragePooling`` neck.

    Args:
        num_classes (int): Number of categories K.
        in_channels (int): Channels C of the feature map.
        hnc_loss (dict, optional): Config of the HNC loss, e.g.
            ``dict(type='HNCLoss', k=100, loss_weight=0.0065)``; None trains
            with the classification loss only. Defaults to None.
        cam_stats_k (int, optional): Negatives per sample of the
            ``neg_cam_stats`` in prediction; 0 disables them. Defaults to
            ``hnc_loss.k``, or ``min(5, K - 1)`` without HNC.
        num_extra_tokens (int): Leading tokens dropped from (N, L, C) ViT
            tokens. Defaults to 1.
        **kwargs: The stock head's other arguments (``loss``, ``topk``, ...).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 hnc_loss: Optional[dict] = None,
                 cam_stats_k: Optional[int] = None,
                 num_extra_tokens: int = 1,
                 **kwargs):
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)
        self._init_hnc(hnc_loss, cam_stats_k, 'model.head')
        self.num_extra_tokens = num_extra_tokens

    def feature_map(self, feats: Tuple[Tensor]) -> Tensor:
        """The last feature as a map, shape (N, C, H, W)."""
        return to_spatial_map(feats, self.num_extra_tokens)

    def pre_logits(self, feats: Tuple[Tensor]) -> Tensor:
        """The average-pooled feature map, shape (N, C)."""
        return self.feature_map(feats).mean(dim=(2, 3))

    def cams(self, feats: Tuple[Tensor], class_idx: Optional[Tensor] = None) -> Tensor:
        """CAMs of all classes (N, K, H, W), or of ``class_idx`` (N, k)."""
        return class_activation_maps(
            self.feature_map(feats), self.fc.weight, self.fc.bias, class_idx)

    def loss(self, feats: Tuple[Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """The stock losses plus ``loss_hnc`` and ``hnc_neg_pos_share``.

        Args:
            feats (tuple[Tensor]): Ending in a (N, C, H, W) map or (N, L, C)
                tokens.
            data_samples (List[DataSample]): With ``gt_label`` or ``gt_score``.
        """
        fmap = self.feature_map(feats)
        scores = self.fc(fmap.mean(dim=(2, 3)))
        hnc = self._hnc_losses(scores, data_samples, partial(self.cams, (fmap, )))
        losses = self._get_loss(scores, data_samples, **kwargs)
        losses.update(hnc)
        return losses

    def predict(self,
                feats: Tuple[Tensor],
                data_samples: Optional[List[Optional[DataSample]]] = None
                ) -> List[DataSample]:
        """The stock predictions, with ``neg_cam_stats`` when every sample has GT."""
        fmap = self.feature_map(feats)
        scores = self.fc(fmap.mean(dim=(2, 3)))
        predictions = self._get_predictions(scores, data_samples)
        if self._wants_cam_stats(data_samples):
            self._add_cam_stats(predictions, data_samples, scores, self.cams((fmap, )))
        return predictions
