"""NegativeCAMMetric: aggregation against a direct computation and wiring."""
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.registry import METRICS, MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401
from colorssl.evaluation.metrics.negative_cam_metric import (
    STAT_NAMES, summarize_negative_cam_stats)


def random_stats(n, seed):
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n):
        stats.append(
            dict(
                neg_contrast=float(rng.uniform(0, 2)),
                tgt_contrast=float(rng.uniform(0.5, 3)),
                neg_peak=float(rng.normal()),
                tgt_peak=float(rng.normal()),
                pos_share=float(rng.uniform())))
    return stats


def test_summary_by_hand():
    stats = [
        dict(
            neg_contrast=1.0,
            tgt_contrast=4.0,
            neg_peak=2.0,
            tgt_peak=1.0,
            pos_share=0.5),
        dict(
            neg_contrast=0.0,
            tgt_contrast=2.0,
            neg_peak=0.0,
            tgt_peak=3.0,
            pos_share=0.0),
        # multi-label sample without positives: target undefined
        dict(
            neg_contrast=5.0,
            tgt_contrast=math.nan,
            neg_peak=9.0,
            tgt_peak=math.nan,
            pos_share=1.0),
    ]
    out = summarize_negative_cam_stats(stats)
    assert out['peak_ratio'] == pytest.approx((1.0 + 0.0) / (4.0 + 2.0))
    assert out['peak_above_target'] == pytest.approx(50.0)
    assert out['pos_pixel_share'] == pytest.approx(100 * 1.5 / 3)


def test_summary_matches_loop():
    stats = random_stats(50, 0)
    out = summarize_negative_cam_stats(stats)
    num = sum(s['neg_contrast'] for s in stats)
    den = sum(s['tgt_contrast'] for s in stats)
    above = sum(s['neg_peak'] > s['tgt_peak'] for s in stats)
    assert out['peak_ratio'] == pytest.approx(num / den)
    assert out['peak_above_target'] == pytest.approx(100 * above / 50)
    assert out['pos_pixel_share'] == pytest.approx(100 * sum(s['pos_share']
                                                             for s in stats) / 50)


def test_metric_through_evaluator():
    stats = random_stats(7, 1)
    evaluator = Evaluator([METRICS.build(dict(type='NegativeCAMMetric'))])
    for chunk in (stats[:3], stats[3:]):
        evaluator.process([{'neg_cam_stats': s} for s in chunk])
    out = evaluator.evaluate(7)
    ref = summarize_negative_cam_stats(stats)
    assert set(out) == {f'neg_cam/{k}' for k in ref}
    for k, v in ref.items():
        assert out[f'neg_cam/{k}'] == pytest.approx(v)


def test_metric_on_head_predictions():
    """The head's DataSamples (as dicts, like in the val loop) feed it."""
    torch.manual_seed(0)
    head = MODELS.build(
        dict(type='HNCLinearClsHead', num_classes=6, in_channels=4, cam_stats_k=2))
    labels = [i % 6 for i in range(5)]
    samples = [DataSample().set_gt_label(label) for label in labels]
    fmap = torch.randn(5, 4, 3, 3)
    preds = head.predict((fmap, ), samples)
    metric = METRICS.build(dict(type='NegativeCAMMetric', prefix='x'))
    metric.process(None, [p.to_dict() for p in preds])
    out = metric.evaluate(5)
    assert set(out) == {'x/peak_ratio', 'x/peak_above_target', 'x/pos_pixel_share'}
    # The same numbers from numpy CAMs: M_k = W_k . f + b_k at every position;
    # negatives are the 2 highest-scoring classes other than the label.
    weight = head.fc.weight.detach().double().numpy()
    bias = head.fc.bias.detach().double().numpy()
    cams = np.einsum('kc,nchw->nkhw', weight, fmap.double().numpy())
    cams = (cams + bias[None, :, None, None]).reshape(5, 6, -1)
    num = den = above = share = 0.0
    for i, label in enumerate(labels):
        logits = cams[i].mean(1)
        negs = [c for c in np.argsort(-logits) if c != label][:2]
        num += max(cams[i, c].max() - cams[i, c].mean() for c in negs)
        den += cams[i, label].max() - cams[i, label].mean()
        above += max(cams[i, c].max() for c in negs) > cams[i, label].max()
        share += np.mean([(cams[i, c] > 0).mean() for c in negs])
    assert out['x/peak_ratio'] == pytest.approx(num / den, rel=1e-4)
    assert out['x/peak_above_target'] == pytest.approx(100 * above / 5)
    assert out['x/pos_pixel_share'] == pytest.approx(100 * share / 5, abs=1e-4)


def test_metric_without_stats_names_the_fix():
    metric = METRICS.build(dict(type='NegativeCAMMetric'))
    with pytest.raises(KeyError, match='HNCLinearClsHead'):
        metric.process(None, [dict(pred_label=torch.tensor([1]))])


def test_stat_names_are_what_the_head_writes():
    head = MODELS.build(dict(type='HNCLinearClsHead', num_classes=3, in_channels=2))
    preds = head.predict((torch.randn(1, 2, 2, 2), ), [DataSample().set_gt_label(0)])
    assert set(preds[0].neg_cam_stats) == set(STAT_NAMES)
