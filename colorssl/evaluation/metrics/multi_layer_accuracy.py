"""Top-k accuracy of every per-layer probe (``MultiLayerLinearClsHead``)."""
from typing import List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.registry import METRICS


@METRICS.register_module()
class MultiLayerAccuracy(BaseMetric):
    """Top-k accuracy (%) per layer, ``<layer>/top<k>``, and ``best/top1`` (the best
    layer's), from each sample's ``layer_scores`` (num_layers, num_classes),
    ``layer_names`` and ``gt_label``.

    Args:
        topk (int | Sequence[int]): Defaults to (1, 5).
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'probe'``.
    """
    default_prefix: Optional[str] = 'probe'

    def __init__(self, topk=(1, 5), collect_device: str = 'cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'layer_scores' not in sample:
                raise KeyError("MultiLayerAccuracy needs 'layer_scores': use "
                               "head=dict(type='MultiLayerLinearClsHead')")
            self.results.append((sample['layer_scores'].cpu(), sample['gt_label'].cpu(),
                                 tuple(sample['layer_names'])))

    def compute_metrics(self, results: List[tuple]) -> dict:
        scores = torch.stack([r[0] for r in results])  # (N, L, K)
        labels = torch.cat([r[1] for r in results])
        topk = tuple(k for k in self.topk if k <= scores.size(2))
        metrics = {}
        for index, name in enumerate(results[0][2]):
            accs = Accuracy.calculate(scores[:, index], labels, topk=topk, thrs=(0., ))
            metrics.update({f'{name}/top{k}': float(a[0]) for k, a in zip(topk, accs)})
        if 1 in self.topk:
            metrics['best/top1'] = max(metrics[f'{n}/top1'] for n in results[0][2])
        return metrics
