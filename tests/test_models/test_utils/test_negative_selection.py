"""Negative selection of the HNC heads against a brute-force numpy reference."""
import numpy as np
import pytest
import torch

from colorssl.models.utils import positive_mask, select_negatives


def np_top_negatives(scores, positives, k):
    """Brute force: classes sorted by decreasing score, positives skipped."""
    rows = []
    for s, pos in zip(scores, positives):
        order = [c for c in np.argsort(-s, kind='stable') if not pos[c]]
        rows.append(order[:k])
    return rows


def test_select_negatives_hard_labels():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(6, 12)).astype(np.float32)
    labels = rng.integers(0, 12, size=6)
    pos = np.zeros((6, 12), bool)
    pos[np.arange(6), labels] = True
    mask = positive_mask(torch.from_numpy(labels), 12)
    np.testing.assert_array_equal(mask.numpy(), pos)
    # (N, 1) labels are accepted too
    np.testing.assert_array_equal(
        positive_mask(torch.from_numpy(labels).view(-1, 1), 12).numpy(), pos)
    idx, valid = select_negatives(torch.from_numpy(scores), mask, 4)
    assert valid.all()
    assert idx.tolist() == [list(r) for r in np_top_negatives(scores, pos, 4)]


def test_select_negatives_soft_labels():
    # Mixup/CutMix: two non-zero classes per sample; both are excluded even
    # when the model scores them highest.
    scores = torch.tensor([[9.0, 8.0, 1.0, 3.0, 2.0, 0.0],
                           [0.0, 1.0, 9.0, 2.0, 8.0, 3.0]])
    target = torch.tensor([[0.7, 0.3, 0, 0, 0, 0], [0, 0, 0.4, 0, 0.6, 0]])
    mask = positive_mask(target, 6)
    idx, valid = select_negatives(scores, mask, 2)
    assert valid.all()
    assert idx.tolist() == [[3, 4], [5, 3]]


def test_select_negatives_multi_label_fewer_than_k():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(3, 8)).astype(np.float32)
    multi_hot = np.zeros((3, 8), np.float32)
    multi_hot[0, [1, 5]] = 1
    multi_hot[1, [0, 2, 3, 4, 6, 7]] = 1  # only 2 negatives left
    multi_hot[2, 3] = 1
    mask = positive_mask(torch.from_numpy(multi_hot), 8)
    idx, valid = select_negatives(torch.from_numpy(scores), mask, 4)
    ref = np_top_negatives(scores, multi_hot != 0, 4)
    for i in range(3):
        n_valid = int(valid[i].sum())
        assert n_valid == min(4, len(ref[i]))
        assert idx[i, :n_valid].tolist() == list(ref[i])
        assert not (multi_hot[i, idx[i][valid[i]].numpy()] != 0).any()


def test_positive_mask_errors():
    with pytest.raises(ValueError, match=r'label 10 .*model\.head\.num_classes=10'):
        positive_mask(torch.tensor([1, 10]), 10)
    with pytest.raises(ValueError, match='out of range'):
        positive_mask(torch.tensor([-1, 2]), 10)
    with pytest.raises(ValueError, match='5 classes'):
        positive_mask(torch.zeros(2, 5), 10)
    with pytest.raises(ValueError, match='k=10'):
        select_negatives(torch.zeros(2, 10), torch.zeros(2, 10, dtype=bool), 10)
