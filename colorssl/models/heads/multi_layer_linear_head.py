"""One linear classifier per backbone layer (the linear probes of Zhang et al. 2016)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class MultiLayerLinearClsHead(BaseModule):
    """Independent linear classifiers on several flattened features.

    Feature ``i`` (N, in_channels[i]) goes through an optional non-affine BatchNorm
    and a ``Linear`` to (N, num_classes) logits; the losses are logged per layer as
    ``loss_<name>``. :meth:`predict` sets ``pred_score`` / ``pred_label`` from
    ``eval_layer``, ``layer_scores`` (num_layers, num_classes) and the metainfo
    ``layer_names``.

    Args:
        num_classes (int): Number of classes.
        in_channels (Sequence[int]): Feature dimension per layer.
        layer_names (Sequence[str], optional): Names in logs and metrics.
            Defaults to ``conv1``, ``conv2``, ...
        with_norm (bool): Non-affine BatchNorm before each classifier.
            Defaults to True.
        eval_layer (int | str): Layer (index or name) behind ``pred_score``.
            Defaults to -1.
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
        n = len(in_channels)
        if layer_names is None:
            layer_names = [f'conv{i + 1}' for i in range(n)]
        layer_names = list(layer_names)
        if len(layer_names) != n or len(set(layer_names)) != n:
            raise ValueError(f'MultiLayerLinearClsHead: layer_names must be {n} '
                             f'distinct names, got {layer_names!r}')
        if isinstance(eval_layer, str):
            if eval_layer not in layer_names:
                raise ValueError(f'MultiLayerLinearClsHead: eval_layer {eval_layer!r} '
                                 f'is not in layer_names {layer_names}')
            eval_layer = layer_names.index(eval_layer)
        if not -n <= eval_layer < n:
            raise ValueError(f'MultiLayerLinearClsHead: eval_layer {eval_layer} out of '
                             f'range for {n} layers')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.layer_names = layer_names
        self.eval_layer = eval_layer % n
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
        for x, channels in zip(feats, self.in_channels):
            if x.dim() != 2 or x.size(1) != channels:
                raise ValueError(f'MultiLayerLinearClsHead expects features (N, '
                                 f'{channels}), got {tuple(x.shape)}: flatten them '
                                 '(e.g. neck=MultiLayerAvgPool) and check in_channels')
        return tuple(fc(norm(x)) for x, norm, fc in zip(feats, self.norms, self.fcs))

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
        scores = torch.stack([s.softmax(dim=1) for s in self(feats)], dim=1).detach()
        results = []
        if data_samples is None:
            data_samples = [None] * scores.size(0)
        for sample, score in zip(data_samples, scores):
            sample = DataSample() if sample is None else sample
            eval_score = score[self.eval_layer]
            sample.set_pred_score(eval_score).set_pred_label(eval_score.argmax())
            sample.set_field(score, 'layer_scores')  # (num_layers, num_classes)
            sample.set_field(
                list(self.layer_names), 'layer_names', field_type='metainfo')
            results.append(sample)
        return results
