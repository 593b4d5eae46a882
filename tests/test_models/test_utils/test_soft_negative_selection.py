"""Negative selection on soft targets (smoothed, mixed, flat) against numpy.

The targets are made by hand from known mixing weights (and smoothed with
mmpretrain's own ``LabelSmoothLoss.smooth_label``), so the expected positives
come from how each row was built, not from the rule under test: the classes
mixed in with a weight above ``1/K`` (dense rows) or above 0 (sparse rows).
"""
import numpy as np
import pytest
import torch
from mmpretrain.models.losses import LabelSmoothLoss

from colorssl.models.utils.negative_selection import (positive_mask, select_negatives,
                                                      soft_positive_mask)

K = 10


def np_top_negatives(scores, positives, k):
    """Brute force: classes by decreasing score, positives skipped; padded
    with -1 where a row has fewer than k negatives."""
    rows = []
    for s, pos in zip(scores, positives):
        order = [int(c) for c in np.argsort(-s, kind='stable') if not pos[c]][:k]
        rows.append(order + [-1] * (k - len(order)))
    return np.array(rows)


def mixing_weights():
    """Per row, the weight of each class in the (unsmoothed) mixed target."""
    w = np.zeros((6, K))
    w[0, 3] = 1.0  # plain one-hot
    w[1, [2, 5]] = [0.7, 0.3]  # Mixup / CutMix
    w[2, [1, 8]] = [0.5, 0.5]
    w[3, [4, 9]] = [0.96, 0.04]  # minor class below 1/K
    w[4, [0, 6]] = [0.15, 0.85]
    w[5, 7] = 1.0
    return w


@pytest.mark.parametrize('mode', ['original', 'classy_vision'])
def test_smoothed_mixed_targets(mode):
    w = mixing_weights()
    smooth = LabelSmoothLoss(label_smooth_val=0.1, num_classes=K, mode=mode)
    target = smooth.smooth_label(torch.from_numpy(w).float())
    assert (target > 0).all()  # dense: the non-zero rule finds no negative
    positive, underived = soft_positive_mask(target)
    expected = w > 1.0 / K
    np.testing.assert_array_equal(positive.numpy(), expected)
    assert not underived.any()
    # the minor class of row 3 (weight 0.04 < 1/K) stays a candidate negative
    assert not positive[3, 9]

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(6, K)).astype(np.float32)
    scores[:, [2, 5, 4, 9]] += 3  # mixed classes score high, as they would
    idx, valid = select_negatives(torch.from_numpy(scores), positive_mask(target, K), 4)
    ref = np_top_negatives(scores, expected, 4)
    assert valid.all()
    np.testing.assert_array_equal(idx.numpy(), ref)


def test_mixing_after_smoothing():
    # CutMix of two smoothed targets: the same positives as smoothing after
    # mixing (the floor is the same for every class).
    smooth = LabelSmoothLoss(label_smooth_val=0.2, num_classes=K)
    lam = 0.8
    a = np.eye(K)[[3, 2, 1, 4, 6, 7]]
    b = np.eye(K)[[3, 5, 8, 9, 0, 7]]
    target = lam * smooth.smooth_label(torch.from_numpy(a).float()) + (
        1 - lam) * smooth.smooth_label(torch.from_numpy(b).float())
    mixed = lam * a + (1 - lam) * b
    positive, underived = soft_positive_mask(target)
    np.testing.assert_array_equal(positive.numpy(), mixed > 1.0 / K)
    assert not underived.any()


def test_sparse_rows_keep_the_non_zero_rule():
    # Mixup/CutMix of one-hot targets (mmpretrain's batch augments) and
    # multi-hot targets: every non-zero class is positive, however small.
    w = mixing_weights()
    positive, underived = soft_positive_mask(torch.from_numpy(w).float())
    np.testing.assert_array_equal(positive.numpy(), w != 0)
    assert positive[3, 9]  # weight 0.04: still positive in a sparse row
    assert not underived.any()
    multi_hot = np.zeros((2, K), np.float32)
    multi_hot[0, [1, 4, 5]] = 1
    np.testing.assert_array_equal(
        positive_mask(torch.from_numpy(multi_hot), K).numpy(), multi_hot != 0)
    # all-zero row (no object): no positive, not "underived"
    positive, underived = soft_positive_mask(torch.from_numpy(multi_hot))
    assert not positive[1].any() and not underived[1]


def test_multi_label_smoothing():
    multi_hot = np.zeros((3, K), np.float32)
    multi_hot[0, [1, 4, 5]] = 1
    multi_hot[1, 0] = 1
    multi_hot[2, :8] = 1  # most classes present
    smooth = LabelSmoothLoss(
        label_smooth_val=0.15, num_classes=K, mode='multi_label', use_sigmoid=True)
    target = smooth.smooth_label(torch.from_numpy(multi_hot))
    assert (target > 1.0 / K).all()  # a fixed 1/K threshold would fail here
    positive, underived = soft_positive_mask(target)
    np.testing.assert_array_equal(positive.numpy(), multi_hot != 0)
    assert not underived.any()


def test_distillation_targets():
    # Dense soft labels without a floor: positives are the classes above the
    # row mean, computed here with a numpy loop.
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2.0, size=(5, K))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    positive, underived = soft_positive_mask(torch.from_numpy(probs))
    ref = np.array([[p > row.sum() / K for p in row] for row in probs])
    np.testing.assert_array_equal(positive.numpy(), ref)
    assert ref.any(1).all() and not ref.all(1).any()
    assert not underived.any()


def test_flat_rows_are_underived():
    target = torch.full((3, K), 1.0 / K)
    target[1] = torch.softmax(torch.arange(K).float(), 0)
    positive, underived = soft_positive_mask(target)
    assert underived.tolist() == [True, False, True]
    assert not positive[0].any() and not positive[2].any()
    # positive_mask marks every class of a flat row positive: no negatives,
    # as the non-zero rule did
    mask = positive_mask(target, K)
    assert mask[0].all() and mask[2].all() and not mask[1].all()
    _, valid = select_negatives(torch.randn(3, K), mask, 3)
    assert valid.tolist() == [[False] * 3, [True] * 3, [False] * 3]


def test_soft_positive_mask_shape_error():
    with pytest.raises(ValueError, match=r'\(N, K\)'):
        soft_positive_mask(torch.zeros(K))
