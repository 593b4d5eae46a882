"""Multi-label linear head with the Homogeneous Negative CAM loss."""
from typing import List, Optional, Tuple

from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from .hnc_head_mixin import HNCHeadMixin


@MODELS.register_module()
class HNCMultiLabelLinearClsHead(HNCHeadMixin, MultiLabelLinearClsHead):
    """``MultiLabelLinearClsHead`` that pools the map itself and adds HNC.

    Same parameters and predictions as ``MultiLabelLinearClsHead`` behind a
    ``GlobalAveragePooling`` neck; use it with ``neck=None``. The
    classification loss is the stock one (BCE by default); the HNC term uses
    the ``k`` highest-scoring classes that are neither positive nor listed in
    ``gt_label_difficult`` (VOC).

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Channels C of the input feature map.
        hnc_loss (dict, optional): Config of the HNC loss; None disables it.
        cam_stats_k (int, optional): Negatives per sample for the evaluation
            statistics; 0 disables them. Defaults to ``hnc_loss.k``, or
            ``min(5, num_classes - 1)`` without HNC.
        num_extra_tokens (int): Leading non-patch tokens to drop from raw ViT
            tokens. Defaults to 1.
        **kwargs: ``loss``, ``thr``, ``topk``, ``init_cfg`` as in
            ``MultiLabelLinearClsHead``.
    """

    _multi_label = True

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
        """Multi-label loss (``loss``) plus ``loss_hnc``."""
        return self._loss_with_hnc(feats, data_samples, **kwargs)

    def predict(self,
                feats: Tuple[Tensor],
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Predictions as ``MultiLabelLinearClsHead``, plus ``neg_cam_stats``."""
        return self._predict_with_stats(feats, data_samples)
