"""Colour prediction quality of a colorization model."""
from typing import List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS


@METRICS.register_module()
class ColorizationMetric(BaseMetric):
    """Per-pixel ab error, the paper's raw-accuracy AuC and the vividness of the output.

    For every image with ``pred_ab`` and ``gt_ab`` (2, H, W):

    - ``ab_l2``: mean Euclidean ab error per pixel;
    - ``auc``: area under the curve of the share of pixels whose ab error is within a
      threshold, thresholds 0..``max_thresh`` (the paper's "AuC", 150), in percent;
    - ``pred_chroma`` / ``gt_chroma``: mean chroma sqrt(a^2 + b^2) of prediction and
      truth, and ``chroma_ratio`` = pred / gt (desaturated predictions: << 1).

    Grayscale images (``is_gray``) are skipped and counted in ``num_gray_skipped``.

    Args:
        max_thresh (int): Largest threshold of the AuC. Defaults to 150.
        collect_device (str): Device to collect results across ranks.
        prefix (str, optional): Metric name prefix. Defaults to ``'color'``.
    """
    default_prefix: Optional[str] = 'color'

    def __init__(self, max_thresh: int = 150, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = torch.arange(0, max_thresh + 1, dtype=torch.float32)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if sample.get('is_gray', False):
                self.results.append(dict(gray=True))
                continue
            pred = sample['pred_ab'].float().cpu()
            gt = sample['gt_ab'].float().cpu()
            if pred.shape != gt.shape:
                raise ValueError(f'pred_ab {tuple(pred.shape)} and gt_ab '
                                 f'{tuple(gt.shape)} differ')
            err = (pred - gt).norm(dim=0).flatten()
            within = (err[None] <= self.thresholds[:, None]).float().mean(1)
            self.results.append(dict(
                gray=False,
                ab_l2=err.mean().item(),
                auc=within.mean().item() * 100,
                pred_chroma=pred.norm(dim=0).mean().item(),
                gt_chroma=gt.norm(dim=0).mean().item()))

    def compute_metrics(self, results: List[dict]) -> dict:
        color = [r for r in results if not r['gray']]
        out = dict(num_gray_skipped=float(len(results) - len(color)))
        if not color:
            return out
        for key in ('ab_l2', 'auc', 'pred_chroma', 'gt_chroma'):
            out[key] = sum(r[key] for r in color) / len(color)
        out['chroma_ratio'] = out['pred_chroma'] / max(out['gt_chroma'], 1e-8)
        return out
