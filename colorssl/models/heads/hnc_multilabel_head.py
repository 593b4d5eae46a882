"""Multi-label linear head with the Homogeneous Negative CAM loss."""
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS

from .hnc_head_mixin import HNCHeadMixin


@MODELS.register_module()
class HNCMultiLabelLinearClsHead(HNCHeadMixin, MultiLabelLinearClsHead):
    """``MultiLabelLinearClsHead`` on the spatial map adding ``loss_hnc``.

    Negatives are never positive nor ``gt_label_difficult`` classes.

    Args: as :class:`HNCHeadMixin`, plus ``MultiLabelLinearClsHead``'s
    ``loss``, ``thr``, ``topk`` and ``init_cfg``.
    """
