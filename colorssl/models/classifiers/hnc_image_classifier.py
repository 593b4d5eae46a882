"""``HNCImageClassifier``: a stock ``ImageClassifier`` plus the HNC loss."""
from typing import List, Optional, Tuple

import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..heads.cam import tokens_to_map
from ..utils.hnc_mixin import HNCMixin


def _last(x):
    """The last tensor of a (nested) tuple/list, else None."""
    while isinstance(x, (tuple, list)) and len(x):
        x = x[-1]
    return x if isinstance(x, Tensor) else None


def _as_map(x: Tensor, channels: int, extra_tokens: int) -> Optional[Tensor]:
    """A (N, C, H, W) map larger than 1x1 from a map or tokens, else None."""
    if x.dim() == 3 and x.size(2) == channels:
        fmap = tokens_to_map(x, extra_tokens)
        x = fmap if fmap is not None else tokens_to_map(x, 0)
    if x is not None and x.dim() == 4 and x.size(1) == channels:
        return x if x.shape[2:].numel() > 1 else None
    return None


@MODELS.register_module()
class HNCImageClassifier(HNCMixin, ImageClassifier):
    """``ImageClassifier`` that adds ``loss_hnc`` on the CAMs of its own head.

    The CAMs are the head, in eval mode, at each position of the last spatial
    map of the backbone or neck with the head's input channels.

    Args:
        hnc_loss (dict, optional): e.g. ``dict(type='HNCLoss', k=100)``; None
            trains the plain classifier. Defaults to None.
        cam_stats_k (int, optional): Negatives per sample of the
            ``neg_cam_stats`` in prediction; 0 disables them. Defaults to
            ``hnc_loss.k``, or ``min(5, num_classes - 1)`` without HNC.
        **kwargs: ``ImageClassifier``'s arguments (backbone, neck, head, ...).
    """

    def __init__(self,
                 hnc_loss: Optional[dict] = None,
                 cam_stats_k: Optional[int] = None,
                 **kwargs):
        super().__init__(**kwargs)
        if not hasattr(self.head, 'num_classes'):
            raise TypeError(
                f'HNCImageClassifier needs a head with `num_classes`: backbone '
                f'{type(self.backbone).__name__} with head {type(self.head).__name__} '
                'has none; use backbone.num_classes=-1 and a LinearClsHead.')
        self.num_classes = self.head.num_classes
        self._init_hnc(hnc_loss, cam_stats_k, 'model')

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
            f'HNCImageClassifier found no spatial map with {channels} channels in '
            f'backbone {type(self.backbone).__name__} / neck '
            f'{type(self.neck).__name__} for head {type(self.head).__name__}; use '
            'HNCLinearClsHead with model.neck=None.')

    def _head_eval(self, feats) -> Tensor:
        """The head's logits (N, K) in eval mode (no dropout, BN running stats)."""
        mode = self.head.training
        self.head.eval()
        try:
            return self.head(feats)
        finally:
            self.head.train(mode)

    def cams(self, feats: tuple, fmap: Tensor) -> Tensor:
        """CAMs of all classes (N, K, H, W): the head at each position of ``fmap``."""
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
        """The head's losses plus ``loss_hnc`` and ``hnc_neg_pos_share``."""
        feats, fmap = self.feats_and_map(inputs)
        losses = self.head.loss(feats, data_samples)
        if self.hnc_loss is not None:
            with torch.no_grad():
                scores = self._head_eval(feats)
            cams = self.cams(feats, fmap).flatten(2)

            def neg_cams(idx):
                return torch.take_along_dim(cams, idx[..., None], dim=1)

            losses.update(self._hnc_losses(scores, data_samples, neg_cams))
        return losses

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """The stock predictions, with ``neg_cam_stats`` when every sample has GT."""
        feats, fmap = self.feats_and_map(inputs)
        predictions = self.head.predict(feats, data_samples, **kwargs)
        if self._wants_cam_stats(data_samples):
            self._add_cam_stats(predictions, data_samples, self._head_eval(feats),
                                self.cams(feats, fmap))
        return predictions
