"""Colorful Image Colorization (Zhang et al., ECCV 2016) as a pretext task."""
from typing import List, Optional, Sequence, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .backbone_adapter import build_backbone, match_stem, warn_small_map


@MODELS.register_module()
class Colorization(BaseSelfSupervisor):
    """Predict the ab channels of a Lab image from its L channel.

    The data preprocessor (default ``ColorizationDataPreprocessor``) gives the input
    (N, C, H, W) and the ``gt_ab`` (2, H, W) / ``is_gray`` of each sample; the head
    holds the loss and the decoding. ``backbone`` may be a stock mmpretrain backbone
    config (see ``backbone_adapter``). Modes: ``'tensor'``, ``'loss'`` (with
    ``num_gray``), ``'predict'`` (samples with ``pred_ab`` (2, H, W) and, when the
    head has a colour prior, ``train_mean_ab`` (2,)).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = data_preprocessor or {}
        if isinstance(data_preprocessor, dict):
            data_preprocessor.setdefault('type', 'ColorizationDataPreprocessor')
        super().__init__(
            backbone=build_backbone(backbone)
            if isinstance(backbone, dict) else backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        match_stem(self.backbone, self.data_preprocessor)
        self._map_checked = False

    def extract_feat(self, inputs: torch.Tensor):
        """(N, C, H, W) normalised L -> tuple of feature maps."""
        x = self.backbone(inputs)
        if self.with_neck:
            x = self.neck(x)
        if not self._map_checked:
            warn_small_map(x, inputs.shape[-2:])
            self._map_checked = True
        return x

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        gt_ab = torch.stack([s.gt_ab for s in data_samples])
        is_gray = torch.tensor([bool(s.get('is_gray', False)) for s in data_samples],
                               device=gt_ab.device)
        thresh = getattr(self.data_preprocessor, 'gray_thresh', None)
        extra = {} if thresh is None else dict(gray_thresh=thresh)
        losses = self.head.loss(self.extract_feat(inputs), gt_ab, ~is_gray, **extra)
        losses.setdefault('num_gray', is_gray.sum().float())
        return losses

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                temperature: Optional[float] = None) -> List[DataSample]:
        pred_ab = self.head.predict(
            self.extract_feat(inputs), inputs.shape[-2:], temperature=temperature)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(inputs.size(0))]
        mean_ab = self.head.train_mean_ab
        for sample, ab in zip(data_samples, pred_ab):
            sample.set_field(ab, 'pred_ab')
            if mean_ab is not None:
                sample.set_field(mean_ab.clone(), 'train_mean_ab')
        return data_samples

    @torch.no_grad()
    def colorize(self,
                 images: Union[torch.Tensor, Sequence[torch.Tensor]],
                 temperature: Optional[float] = None) -> torch.Tensor:
        """(N, 3, H, W) uint8 or [0, 1] float images (colour or gray) -> (N, 2, H, W)
        predicted ab; ``temperature`` defaults to the head's."""
        inputs = self.data_preprocessor.split_lab(
            self.data_preprocessor.to_lab(images))[0]
        return self.head.predict(
            self.extract_feat(inputs), inputs.shape[-2:], temperature=temperature)
