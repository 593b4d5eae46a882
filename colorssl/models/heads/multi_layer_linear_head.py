"""One linear classifier per backbone layer (the linear probes of Zhang et al. 2016)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

LAYER_SCORES_FIELD = 'layer_scores'
LAYER_NAMES_FIELD = 'layer_names'


@MODELS.register_module()
class MultiLayerLinearClsHead(BaseModule):
    """Independent linear classifiers on several (flattened) features.

    Each feature ``i`` of shape (N, in_channels[i]) goes through an optional
    BatchNorm without affine parameters (it only rescales features of different layers
    to a common range, so one learning rate suits all; at test time it is an affine
    map folded into the classifier, so the probe stays linear) and a ``Linear`` to
    ``num_classes`` logits. The loss is the sum of the per-layer losses, logged as
    ``loss_<name>``; gradients of one classifier do not reach the others (and none
    reach a frozen backbone).

    :meth:`predict` sets ``pred_score`` / ``pred_label`` from the layer
    ``eval_layer`` (so the stock ``Accuracy`` metric reports it) and, for
    ``MultiLayerAccuracy``, ``layer_scores`` of shape (num_layers, num_classes) plus
    the metainfo ``layer_names``.

    Args:
        num_classes (int): Number of classes.
        in_channels (Sequence[int]): Feature dimension per layer.
        layer_names (Sequence[str], optional): Names used in logs and metrics.
            Defaults to ``conv1``, ``conv2``, ...
        with_norm (bool): BatchNorm (no affine) before each classifier.
            Defaults to True.
        eval_layer (int | str): Layer (index or name) behind ``pred_score``.
            Defaults to -1 (the last).
        loss (dict): Loss config. Defaults to cross-entropy.
        init_cfg (dict): Defaults to normal(0, 0.01) weights, zero bias.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int],
                 layer_names: Optional[Sequence[str]] = None,
                 with_norm: bool = True,
                 eval_layer=-1,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)):
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, int):
            in_channels = [in_channels]
        in_channels = list(in_channels)
        if not in_channels or any(not isinstance(c, int) or c < 1 for c in in_channels):
            raise ValueError('MultiLayerLinearClsHead: in_channels must be a list of '
                             f'positive ints, got {in_channels!r}')
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'MultiLayerLinearClsHead: num_classes must be a positive '
                             f'int, got {num_classes!r}')
        if layer_names is None:
            layer_names = [f'conv{i + 1}' for i in range(len(in_channels))]
        layer_names = list(layer_names)
        if len(layer_names) != len(in_channels) or len(
                set(layer_names)) != len(layer_names):
            raise ValueError('MultiLayerLinearClsHead: layer_names must be '
                             f'{len(in_channels)} distinct names, got {layer_names!r}')
        if isinstance(eval_layer, str):
            if eval_layer not in layer_names:
                raise ValueError(f'MultiLayerLinearClsHead: eval_layer {eval_layer!r} '
                                 f'is not in layer_names {layer_names}')
            eval_layer = layer_names.index(eval_layer)
        if not -len(in_channels) <= eval_layer < len(in_channels):
            raise ValueError(f'MultiLayerLinearClsHead: eval_layer {eval_layer} out of '
                             f'range for {len(in_channels)} layers')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.layer_names = layer_names
        self.eval_layer = eval_layer % len(in_channels)
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(c, affine=False) if with_norm else nn.Identity()
            for c in in_channels)
        self.fcs = nn.ModuleList(nn.Linear(c, num_classes) for c in in_channels)
        self.loss_module = loss if isinstance(loss, nn.Module) else MODELS.build(loss)

    def forward(self, feats: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """(N, in_channels[i]) features -> tuple of (N, num_classes) logits."""
        if len(feats) != len(self.fcs):
            raise ValueError(f'MultiLayerLinearClsHead has {len(self.fcs)} classifiers '
                             f'({self.layer_names}) but got {len(feats)} features')
        outs = []
        for x, norm, fc, channels in zip(feats, self.norms, self.fcs, self.in_channels):
            if x.dim() != 2 or x.size(1) != channels:
                raise ValueError(f'MultiLayerLinearClsHead expects features (N, '
                                 f'{channels}), got {tuple(x.shape)}: flatten them '
                                 '(e.g. neck=MultiLayerAvgPool) and check in_channels')
            outs.append(fc(norm(x)))
        return tuple(outs)

    def loss(self, feats: Sequence[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        logits = self(feats)
        target = torch.cat([s.gt_label for s in data_samples]).to(logits[0].device)
        return {
            f'loss_{name}':
            self.loss_module(score, target, avg_factor=score.size(0), **kwargs)
            for name, score in zip(self.layer_names, logits)
        }

    def predict(self,
                feats: Sequence[torch.Tensor],
                data_samples: Optional[List[Optional[DataSample]]] = None
                ) -> List[DataSample]:
        # (N, L, K)
        scores = torch.stack([s.softmax(dim=1) for s in self(feats)], dim=1)
        if data_samples is None:
            data_samples = [None] * scores.size(0)
        results = []
        for sample, score in zip(data_samples, scores.detach()):
            sample = DataSample() if sample is None else sample
            eval_score = score[self.eval_layer]
            sample.set_pred_score(eval_score).set_pred_label(eval_score.argmax())
            sample.set_field(score, LAYER_SCORES_FIELD)
            sample.set_field(
                list(self.layer_names), LAYER_NAMES_FIELD, field_type='metainfo')
            results.append(sample)
        return results
