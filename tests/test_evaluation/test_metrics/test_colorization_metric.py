import numpy as np
import pytest
import torch

from colorssl.evaluation.metrics import ColorizationMetric


def test_values_against_numpy():
    g = torch.Generator().manual_seed(0)
    preds = [torch.randn(2, 5, 6, generator=g) * 30 for _ in range(3)]
    gts = [torch.randn(2, 5, 6, generator=g) * 30 for _ in range(3)]
    metric = ColorizationMetric(max_thresh=150)
    samples = [dict(pred_ab=p, gt_ab=t, is_gray=False) for p, t in zip(preds, gts)]
    samples.append(dict(pred_ab=preds[0], gt_ab=gts[0], is_gray=True))
    metric.process(None, samples)
    out = metric.evaluate(4)

    errs = [np.linalg.norm((p - t).numpy(), axis=0).ravel() for p, t in zip(preds, gts)]
    auc = np.mean([np.mean([(e <= t).mean() for t in range(151)]) for e in errs]) * 100
    pred_c = np.mean([np.linalg.norm(p.numpy(), axis=0).mean() for p in preds])
    gt_c = np.mean([np.linalg.norm(t.numpy(), axis=0).mean() for t in gts])
    assert out['color/ab_l2'] == pytest.approx(np.mean([e.mean() for e in errs]), rel=1e-5)
    assert out['color/auc'] == pytest.approx(auc, rel=1e-5)
    assert out['color/pred_chroma'] == pytest.approx(pred_c, rel=1e-5)
    assert out['color/chroma_ratio'] == pytest.approx(pred_c / gt_c, rel=1e-5)
    assert out['color/num_gray_skipped'] == 1


def test_perfect_prediction():
    gt = torch.randn(2, 4, 4) * 20
    metric = ColorizationMetric()
    metric.process(None, [dict(pred_ab=gt.clone(), gt_ab=gt, is_gray=False)])
    out = metric.evaluate(1)
    assert out['color/ab_l2'] == 0 and out['color/auc'] == 100
    assert out['color/chroma_ratio'] == pytest.approx(1.)
