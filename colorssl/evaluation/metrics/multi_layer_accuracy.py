"""Top-k accuracy of every per-layer probe (``MultiLayerLinearClsHead``)."""
from typing import List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.registry import METRICS


@METRICS.register_module()
class MultiLayerAccuracy(BaseMetric):
    """Top-k accuracy (%) per layer, as ``<layer>/top<k>``, plus ``best/top1`` (the
    highest top-1 over layers).

    Reads ``layer_scores`` (num_layers, num_classes), the metainfo ``layer_names`` and
    ``gt_label`` of each data sample.

    Args:
        topk (int | Sequence[int]): Defaults to (1, 5).
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to None.
    """
    default_prefix: Optional[str] = 'probe'

    def __init__(self,
                 topk=(1, 5),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'layer_scores' not in sample:
                raise KeyError('MultiLayerAccuracy needs data samples with '
                               "'layer_scores': use head=dict(type="
                               "'MultiLayerLinearClsHead')")
            self.results.append(
                dict(
                    scores=sample['layer_scores'].cpu(),
                    names=tuple(sample['layer_names']),
                    label=sample['gt_label'].cpu()))

    def compute_metrics(self, results: List[dict]) -> dict:
        names = results[0]['names']
        scores = torch.stack([r['scores'] for r in results])  # (N, L, K)
        labels = torch.cat([r['label'] for r in results])
        num_classes = scores.size(2)
        metrics = {}
        for index, name in enumerate(names):
            topk = tuple(k for k in self.topk if k <= num_classes)
            accs = Accuracy.calculate(scores[:, index], labels, topk=topk, thrs=(0., ))
            for k, acc in zip(topk, accs):
                metrics[f'{name}/top{k}'] = float(acc[0])
        if 1 in self.topk:
            metrics['best/top1'] = max(metrics[f'{n}/top1'] for n in names)
        return metrics
