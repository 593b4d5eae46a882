"""Single-label linear head with the Homogeneous Negative CAM loss."""
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS

from .hnc_head_mixin import HNCHeadMixin


@MODELS.register_module()
class HNCLinearClsHead(HNCHeadMixin, LinearClsHead):
    """``LinearClsHead`` on the spatial map (``neck=None``) adding ``loss_hnc``.

    Args: as :class:`HNCHeadMixin`, plus ``LinearClsHead``'s ``loss``,
    ``topk``, ``cal_acc`` and ``init_cfg``.
    """
