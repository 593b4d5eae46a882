"""Evaluator metric of how peaked the top-k negative CAMs are."""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

from colorssl.models.utils.hnc_mixin import NEG_CAM_STATS_FIELD

STAT_NAMES = ('neg_contrast', 'tgt_contrast', 'neg_peak', 'tgt_peak', 'pos_share')


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else float('nan')


def summarize_negative_cam_stats(stats: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """Aggregate the per-sample statistics of ``negative_cam_stats``.

    Args:
        stats (Sequence[dict]): Per sample, the floats ``STAT_NAMES`` (NaN
            where undefined).

    Returns:
        dict[str, float]: ``peak_ratio`` (mean negative contrast over mean
        target contrast), ``peak_above_target`` (% of samples whose negative
        peak exceeds the target's) and ``pos_pixel_share`` (% of positive
        positions in the negative CAMs).
    """
    if len(stats) == 0:
        raise ValueError('no negative-CAM statistics to summarise')
    t = {n: np.asarray([float(s[n]) for s in stats], np.float64) for n in STAT_NAMES}
    both = np.isfinite(t['neg_contrast']) & np.isfinite(t['tgt_contrast'])
    denom = _mean(t['tgt_contrast'][both])
    ratio = _mean(t['neg_contrast'][both]) / denom if denom > 0 else float('nan')
    both = np.isfinite(t['neg_peak']) & np.isfinite(t['tgt_peak'])
    share = t['pos_share'][np.isfinite(t['pos_share'])]
    return dict(
        peak_ratio=ratio,
        peak_above_target=100.0 * _mean(t['neg_peak'][both] > t['tgt_peak'][both]),
        pos_pixel_share=100.0 * _mean(share))


@METRICS.register_module()
class NegativeCAMMetric(BaseMetric):
    """Homogeneity of the top-k negative CAMs (``neg_cam_stats`` of predictions).

    Needs ``model.type='HNCImageClassifier'`` or an HNC head, and labels::

        val_evaluator = [dict(type='Accuracy', topk=(1, 5)),
                         dict(type='NegativeCAMMetric')]

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'neg_cam'``.
    """
    default_prefix: Optional[str] = 'neg_cam'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Collect the ``neg_cam_stats`` field of every sample."""
        for data_sample in data_samples:
            stats = data_sample.get(NEG_CAM_STATS_FIELD, None)
            if stats is None:
                raise KeyError(
                    f'NegativeCAMMetric found no `{NEG_CAM_STATS_FIELD}`: use '
                    "model.type='HNCImageClassifier' or HNCLinearClsHead with "
                    'cam_stats_k > 0, on a test set with labels.')
            self.results.append({name: float(stats[name]) for name in STAT_NAMES})

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Summarise the collected statistics."""
        return summarize_negative_cam_stats(results)
