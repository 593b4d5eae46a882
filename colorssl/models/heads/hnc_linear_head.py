"""Single-label linear head with the Homogeneous Negative CAM loss."""
from typing import List, Optional, Tuple

from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from .hnc_head_mixin import HNCHeadMixin


@MODELS.register_module()
class HNCLinearClsHead(HNCHeadMixin, LinearClsHead):
    """``LinearClsHead`` that pools the feature map itself and adds HNC.

    Put it behind a backbone with ``neck=None``: it receives the last feature
    map (N, C, H, W) (or ViT tokens (N, 1 + H*W, C)), average-pools it and
    applies ``fc``, so logits, parameters (``fc.weight``, ``fc.bias``) and
    checkpoints are the same as ``LinearClsHead`` on a ``GlobalAveragePooling``
    neck. During training it adds ``loss_hnc`` (``hnc_loss``) computed on the
    CAMs of the ``k`` highest-scoring classes whose target is zero (hard
    labels, Mixup/CutMix soft labels; label smoothing inside the loss keeps the
    hard target). In ``predict`` with ground truth it stores negative-CAM
    statistics in each DataSample's ``neg_cam_stats`` field for
    ``NegativeCAMMetric``.

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
        **kwargs: ``loss``, ``topk``, ``cal_acc``, ``init_cfg`` as in
            ``LinearClsHead``.
    """

    _multi_label = False

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 hnc_loss: Optional[dict] = None,
                 cam_stats_k: Optional[int] = None,
                 num_extra_tokens: int = 1,
                 **kwargs):
        super().__init__(num_classes=num_classes, in_channels=in_channels,
                         **kwargs)
        self._init_hnc(hnc_loss, cam_stats_k, num_extra_tokens)

    def loss(self, feats: Tuple[Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """Classification loss (``loss``) plus ``loss_hnc``.

        Args:
            feats (tuple[Tensor]): Backbone outputs; the last one is a
                (N, C, H, W) map or (N, L, C) tokens.
            data_samples (List[DataSample]): With ``gt_label`` or
                ``gt_score``.

        Returns:
            dict[str, Tensor]: ``loss``, ``loss_hnc`` (when ``hnc_loss`` is
            set), ``hnc_neg_pos_share`` (logged only) and the optional
            accuracies.
        """
        return self._loss_with_hnc(feats, data_samples, **kwargs)

    def predict(
        self,
        feats: Tuple[Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predictions as ``LinearClsHead``, plus ``neg_cam_stats``."""
        return self._predict_with_stats(feats, data_samples)
