"""Colorful Image Colorization (Zhang, Isola, Efros, ECCV 2016) as a self-supervised
pretext task: a thin composition of data preprocessor, backbone, neck and head."""
from typing import List, Optional, Sequence, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .backbone_adapter import build_backbone, match_stem, warn_small_map


@MODELS.register_module()
class Colorization(BaseSelfSupervisor):
    """Predict the ab channels of a Lab image from its L channel.

    The data preprocessor (default ``ColorizationDataPreprocessor``) turns RGB into
    the network input ``L - 50`` and the ab target; the head holds the maths (soft
    encoding, rebalanced loss, annealed-mean decoding). Grayscale images keep no loss;
    their count in the batch is logged as ``num_gray`` (by the preprocessor's
    full-resolution test, or by the head's when ``model.head.gray_test='target'``).

    Modes of :meth:`forward`: ``'tensor'`` (backbone/neck features), ``'loss'``,
    ``'predict'`` (data samples with ``pred_ab`` (2, H, W) and ``gt_ab``, and
    ``train_mean_ab`` (2,), the training images' mean ab, when the head has a
    colour prior).

    ``backbone`` may be any stock mmpretrain backbone config as it stands in
    mmpretrain's config files: it is set to return its last spatial map
    (:func:`build_backbone`), L is repeated to the stem's input channels
    (:func:`match_stem`), and the first forward logs a WARNING when the map the head
    predicts from is smaller than 8x8 (:func:`warn_small_map`).
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
        if isinstance(backbone, dict):
            backbone = build_backbone(backbone)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        match_stem(self.backbone, self.data_preprocessor)
        self._map_checked = False

    def extract_feat(self, inputs: torch.Tensor):
        """(N, C_in, H, W) normalised L -> tuple of feature maps."""
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

    @staticmethod
    def _targets(data_samples: Sequence[DataSample]):
        try:
            gt_ab = torch.stack([s.gt_ab for s in data_samples])
        except AttributeError as err:
            raise AttributeError(
                'Colorization needs data samples with `gt_ab`: set '
                "model.data_preprocessor.type='ColorizationDataPreprocessor'") from err
        is_gray = torch.tensor([bool(s.get('is_gray', False)) for s in data_samples],
                               device=gt_ab.device)
        return gt_ab, is_gray

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        gt_ab, is_gray = self._targets(data_samples)
        extra = {}
        gray_thresh = getattr(self.data_preprocessor, 'gray_thresh', None)
        if gray_thresh is not None:
            extra['gray_thresh'] = gray_thresh
        losses = self.head.loss(self.extract_feat(inputs), gt_ab, ~is_gray, **extra)
        # The head reports its own count when it tests the resized target.
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
            if mean_ab is not None:  # for ColorizationMetric's 'mean' baseline
                sample.set_field(mean_ab.clone(), 'train_mean_ab')
        return data_samples

    @torch.no_grad()
    def colorize(self,
                 images: Union[torch.Tensor, Sequence[torch.Tensor]],
                 temperature: Optional[float] = None) -> torch.Tensor:
        """Predict ab for a batch of images (colour or gray).

        Args:
            images (Tensor | list[Tensor]): (N, 3, H, W) uint8 (or float in [0, 1])
                in the data preprocessor's channel order.
            temperature (float, optional): Annealed-mean temperature; defaults to
                the head's.

        Returns:
            Tensor: (N, 2, H, W) predicted ab.
        """
        lab = self.data_preprocessor.to_lab(images)
        inputs, _, _ = self.data_preprocessor.split_lab(lab)
        return self.head.predict(
            self.extract_feat(inputs), inputs.shape[-2:], temperature=temperature)
