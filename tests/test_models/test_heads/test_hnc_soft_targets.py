"""HNC with soft targets, through classifiers built from configs.

Label smoothing (``LabelSmoothLoss`` in the head), Mixup through both of
mmpretrain 1.2's config forms (``data_preprocessor.batch_augments`` and the
classifier's ``train_cfg``), a smoothed-and-mixed ``gt_score`` without
``gt_label``, and the one-time warning for targets with no derivable label.
Each loss step is checked against a numpy re-computation of the kd term on the
CAMs of the expected negatives, and for a backbone gradient.
"""
import copy

import numpy as np
import pytest
import torch
from mmpretrain.models.losses import LabelSmoothLoss
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401  (registers the modules)
import colorssl.models.utils.hnc_mixin as hnc_mixin

torch.set_num_threads(1)

K, TOPK, N, SIZE = 10, 3, 4, 64  # ResNet stride 32: 2x2 CAMs

BASE = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=8,
        base_channels=8,
        num_stages=4,
        out_indices=(3, )),
    neck=None,
    head=dict(
        type='HNCLinearClsHead',
        num_classes=K,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss'),
        hnc_loss=dict(type='HNCLoss', k=TOPK, mode='kd', loss_weight=1.0)),
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=K,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))

MIXUP = [dict(type='Mixup', alpha=0.2)]


def config(label_smooth=False, mixup=None):
    cfg = copy.deepcopy(BASE)
    if label_smooth:
        cfg['head']['loss'] = dict(type='LabelSmoothLoss', label_smooth_val=0.1)
    if mixup == 'batch_augments':
        cfg['data_preprocessor']['batch_augments'] = dict(augments=MIXUP)
    elif mixup == 'train_cfg':
        cfg['train_cfg'] = dict(augments=MIXUP)
    return cfg


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    return model


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [
        torch.randint(0, 256, (3, SIZE, SIZE), dtype=torch.uint8, generator=g)
        for _ in range(N)
    ]
    labels = [0, 3, 3, 7]
    return dict(
        inputs=inputs,
        data_samples=[DataSample().set_gt_label(label) for label in labels])


def np_kd_of_top_negatives(cams, exclude, k):
    """Mean over samples of sum_j (logsumexp - mean) of the top-k CAMs among
    the classes not excluded (numpy, float64)."""
    cams = cams.astype(np.float64)
    logits = cams.reshape(*cams.shape[:2], -1).mean(-1)
    out = []
    for i in range(cams.shape[0]):
        order = [c for c in np.argsort(-logits[i], kind='stable')
                 if not exclude[i, c]][:k]
        assert len(order) == k
        total = 0.0
        for c in order:
            z = cams[i, c].ravel()
            total += np.log(np.exp(z - z.max()).sum()) + z.max() - z.mean()
        out.append(total)
    return float(np.mean(out))


def loss_step(model, data, expected_exclude):
    """One loss step; checks loss_hnc against numpy and its backbone grad."""
    feats = model.extract_feat(data['inputs'])
    cams = model.head.cams(feats).detach().numpy()
    losses = model.loss(data['inputs'], data['data_samples'])
    hnc = losses['loss_hnc']
    assert torch.isfinite(hnc) and hnc.item() > 0
    ref = np_kd_of_top_negatives(cams, expected_exclude, TOPK)
    np.testing.assert_allclose(hnc.item(), ref, rtol=1e-4)
    # all k negatives valid: the term did not vanish, nor shrink to 0 by a
    # selection that found no negatives (kd of k CAMs >= k log P > 0)
    assert hnc.item() >= TOPK * np.log(4) - 1e-4
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    grads = torch.autograd.grad(hnc, params, allow_unused=True)
    total = sum(g.abs().sum() for g in grads if g is not None)
    assert torch.isfinite(total) and total.item() > 0
    return losses


def test_label_smoothing_keeps_the_hard_label():
    model = build(config(label_smooth=True))
    data = model.data_preprocessor(batch(), True)
    assert all('gt_score' not in ds for ds in data['data_samples'])
    labels = np.array([int(ds.gt_label) for ds in data['data_samples']])
    exclude = np.eye(K, dtype=bool)[labels]
    losses = loss_step(model, data, exclude)
    # the classification loss is the smoothed one
    smooth = LabelSmoothLoss(label_smooth_val=0.1)
    logits = model.head(model.extract_feat(data['inputs']))
    torch.testing.assert_close(losses['loss'], smooth(logits, torch.from_numpy(labels)))


@pytest.mark.parametrize('form', ['batch_augments', 'train_cfg'])
@pytest.mark.parametrize('label_smooth', [False, True])
def test_mixup(form, label_smooth):
    model = build(config(label_smooth=label_smooth, mixup=form))
    assert model.data_preprocessor.batch_augments is not None
    np.random.seed(3)  # Mixup draws lambda and the permutation from numpy
    torch.manual_seed(3)
    data = model.data_preprocessor(batch(), True)
    samples = data['data_samples']
    scores = torch.stack([ds.gt_score for ds in samples]).numpy()
    labels = np.array([int(ds.gt_label) for ds in samples])
    assert ((scores != 0).sum(1) == 2).any(), 'the batch was not mixed'
    # mixed samples: both mixed classes are positives, and so is the original
    # label the preprocessor keeps
    exclude = (scores != 0) | np.eye(K, dtype=bool)[labels]
    loss_step(model, data, exclude)


def test_smoothed_mixed_score_without_hard_label():
    # A pipeline that delivers gt_score already smoothed (every class
    # non-zero) and drops gt_label: the old non-zero rule left no negative.
    model = build(config(label_smooth=True, mixup='batch_augments'))
    np.random.seed(5)
    torch.manual_seed(5)
    data = model.data_preprocessor(batch(1), True)
    mixed = torch.stack([ds.gt_score for ds in data['data_samples']])
    smoothed = LabelSmoothLoss(label_smooth_val=0.1, num_classes=K).smooth_label(mixed)
    assert (smoothed > 0).all()
    for ds, score in zip(data['data_samples'], smoothed):
        del ds.gt_label
        ds.set_gt_score(score)
    exclude = mixed.numpy() > 1.0 / K  # mixing weights above 1/K
    loss_step(model, data, exclude)


def test_flat_targets_warn_once(monkeypatch):
    calls = []
    monkeypatch.setattr(hnc_mixin, 'print_log', lambda msg, **kw: calls.append(
        (msg, kw)))
    model = build(config())
    data = model.data_preprocessor(batch(), True)
    flat = torch.full((K, ), 1.0 / K)
    one_hot = torch.eye(K)[5]
    for ds, score in zip(data['data_samples'], [flat, one_hot, flat, one_hot]):
        del ds.gt_label
        ds.set_gt_score(score)
    feats = model.extract_feat(data['inputs'])
    cams = model.head.cams(feats).detach().numpy()
    for _ in range(2):
        losses = model.loss(data['inputs'], data['data_samples'])
    assert len(calls) == 1
    msg, kw = calls[0]
    assert kw['logger'] == 'current' and kw['level'] == 30
    assert '2 of 4 samples' in msg and 'no HNC term' in msg
    # flat samples add nothing; the others their kd term (mean over all N)
    per_sample = [
        np_kd_of_top_negatives(cams[i:i + 1],
                               np.eye(K, dtype=bool)[[5]], TOPK) for i in (1, 3)
    ]
    np.testing.assert_allclose(
        losses['loss_hnc'].item(), sum(per_sample) / N, rtol=1e-4)
    # a fresh head warns again, once
    model = build(config())
    model.loss(data['inputs'], data['data_samples'])
    assert len(calls) == 2
