"""Single-label linear head with the Homogeneous Negative CAM loss."""
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS

from .hnc_head_mixin import HNCHeadMixin


@MODELS.register_module()
class HNCLinearClsHead(HNCHeadMixin, LinearClsHead):
    """``LinearClsHead`` that pools the feature map itself and adds HNC.

    Put it behind a backbone with ``neck=None``: it receives the last feature
    map (N, C, H, W) (or ViT tokens (N, 1 + H*W, C)), average-pools it and
    applies ``fc``, so logits, parameters (``fc.weight``, ``fc.bias``) and
    checkpoints are the same as ``LinearClsHead`` on a ``GlobalAveragePooling``
    neck. During training it adds ``loss_hnc`` (``hnc_loss``) computed on the
    CAMs of the ``k`` highest-scoring classes that are not positive (hard
    labels; Mixup/CutMix soft labels: the non-zero classes, or, for a score
    that is non-zero everywhere such as a smoothed one, the classes above
    ``1/num_classes``; label smoothing inside the loss keeps the hard target).
    In ``predict`` with ground truth it stores negative-CAM
    statistics in each DataSample's ``neg_cam_stats`` field for
    ``NegativeCAMMetric``.

    Args: ``num_classes``, ``in_channels``, ``hnc_loss``, ``cam_stats_k`` and
    ``num_extra_tokens`` as in :class:`HNCHeadMixin`; ``loss``, ``topk``,
    ``cal_acc``, ``init_cfg`` as in ``LinearClsHead``.
    """

    _multi_label = False
