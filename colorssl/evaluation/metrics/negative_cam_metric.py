"""Evaluator metric for the localisation errors HNC targets.

The HNC heads (``HNCLinearClsHead``, ``HNCMultiLabelLinearClsHead``) store, per
test sample, statistics of the CAMs of its top-k negative classes (the k
highest logits among non-target classes) next to those of its target CAM; see
:func:`colorssl.models.heads.cam.negative_cam_stats`. This metric aggregates
them:

- ``peak_ratio``: mean spatial contrast (peak minus spatial mean) of the
  strongest top-k negative CAM divided by the mean contrast of the target CAM,
  a ratio of dataset means (robust to near-flat target CAMs). 0 means
  perfectly homogeneous negative CAMs; 1 means negatives are as peaked as
  the target.
- ``peak_above_target``: percentage of samples where some top-k negative CAM
  reaches a higher raw value than the target CAM's peak, i.e. some region of
  the image is more a wrong class than the right one.
- ``pos_pixel_share``: percentage of positions with a positive value over the
  top-k negative CAMs (the count the public HNC code logs).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

from colorssl.models.heads.hnc_head_mixin import NEG_CAM_STATS_FIELD

STAT_NAMES = ('neg_contrast', 'tgt_contrast', 'neg_peak', 'tgt_peak', 'pos_share')


def summarize_negative_cam_stats(stats: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """Aggregate per-sample negative-CAM statistics.

    Args:
        stats (Sequence[dict]): One dict per sample with the keys
            ``STAT_NAMES`` (floats, NaN where undefined).

    Returns:
        dict[str, float]: ``peak_ratio`` (ratio), ``peak_above_target`` and
        ``pos_pixel_share`` (percentages).
    """
    if len(stats) == 0:
        raise ValueError('no negative-CAM statistics to summarise')
    table = {
        name: np.asarray([float(s[name]) for s in stats], dtype=np.float64)
        for name in STAT_NAMES
    }
    neg_c, tgt_c = table['neg_contrast'], table['tgt_contrast']
    both = np.isfinite(neg_c) & np.isfinite(tgt_c)
    denom = tgt_c[both].mean() if both.any() else np.nan
    peak_ratio = (
        neg_c[both].mean() / denom if both.any() and denom > 0 else float('nan'))
    neg_p, tgt_p = table['neg_peak'], table['tgt_peak']
    both_p = np.isfinite(neg_p) & np.isfinite(tgt_p)
    above = (100.0 *
             np.mean(neg_p[both_p] > tgt_p[both_p]) if both_p.any() else float('nan'))
    share = table['pos_share']
    share = 100.0 * share[np.isfinite(share)].mean() if np.isfinite(
        share).any() else float('nan')
    return dict(
        peak_ratio=float(peak_ratio),
        peak_above_target=float(above),
        pos_pixel_share=float(share))


@METRICS.register_module()
class NegativeCAMMetric(BaseMetric):
    """Homogeneity of the top-k negative CAMs (see module docstring).

    Needs ``model.type='HNCImageClassifier'``, or a head
    ``HNCLinearClsHead`` / ``HNCMultiLabelLinearClsHead`` (with
    ``hnc_loss=None`` for a plain baseline), and ground-truth labels in the
    test set. Add it next to the usual metric::

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
                    f'NegativeCAMMetric found no `{NEG_CAM_STATS_FIELD}` in the '
                    "predictions. Use `model.type='HNCImageClassifier'` (or the "
                    'head HNCLinearClsHead) with `cam_stats_k` > 0, on a test set with '
                    'ground-truth labels.')
            self.results.append({name: float(stats[name]) for name in STAT_NAMES})

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Summarise the collected statistics."""
        return summarize_negative_cam_stats(results)
