"""Multi-label linear head with the Homogeneous Negative CAM loss."""
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS

from .hnc_head_mixin import HNCHeadMixin


@MODELS.register_module()
class HNCMultiLabelLinearClsHead(HNCHeadMixin, MultiLabelLinearClsHead):
    """``MultiLabelLinearClsHead`` that pools the map itself and adds HNC.

    Same parameters and predictions as ``MultiLabelLinearClsHead`` behind a
    ``GlobalAveragePooling`` neck; use it with ``neck=None``. The
    classification loss is the stock one (BCE by default); the HNC term uses
    the ``k`` highest-scoring classes that are neither positive nor listed in
    ``gt_label_difficult`` (VOC). A dense ``gt_score`` (e.g. smoothed with
    ``mode='multi_label'`` before the head) has as positives the classes
    above its row mean (see ``soft_positive_mask``).

    Args: ``num_classes``, ``in_channels``, ``hnc_loss``, ``cam_stats_k`` and
    ``num_extra_tokens`` as in :class:`HNCHeadMixin`; ``loss``, ``thr``,
    ``topk``, ``init_cfg`` as in ``MultiLabelLinearClsHead``.
    """

    _multi_label = True
