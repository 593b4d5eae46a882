"""HNC loss: functional core and module against an independent numpy reference."""
import numpy as np
import pytest
import torch

from colorssl.models.losses.hnc_loss import (HNCLoss, hnc_loss, positive_mask,
                                             select_negatives)


# ----------------------------------------------------------- numpy reference
def np_kd_per_sample(cams, valid, temperature):
    """Sum over valid negatives of CE(uniform || spatial softmax(cam / T))."""
    n, k = cams.shape[:2]
    out = np.zeros(n)
    for i in range(n):
        for j in range(k):
            if not valid[i, j]:
                continue
            z = cams[i, j].ravel().astype(np.float64) / temperature
            e = np.exp(z - z.max())
            p = e / e.sum()
            u = np.full(z.size, 1.0 / z.size)
            out[i] += -(u * np.log(p)).sum()
    return out


def np_mse_per_sample(cams, valid, alpha):
    """Mean over valid negatives and positions of (cam - alpha)^2."""
    n, k = cams.shape[:2]
    out = np.zeros(n)
    for i in range(n):
        terms = [((cams[i, j].astype(np.float64) - alpha)**2).mean()
                 for j in range(k) if valid[i, j]]
        out[i] = np.mean(terms) if terms else 0.0
    return out


def np_top_negatives(scores, positives, k):
    """Brute force: classes sorted by decreasing score, positives skipped."""
    rows = []
    for s, pos in zip(scores, positives):
        order = [c for c in np.argsort(-s, kind='stable') if not pos[c]]
        rows.append(order[:k])
    return rows


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize('temperature', [1.0, 2.5])
def test_kd_matches_numpy(temperature):
    rng = np.random.default_rng(0)
    cams = rng.normal(scale=3.0, size=(4, 3, 5, 6)).astype(np.float32)
    valid = np.ones((4, 3), bool)
    valid[2, 1:] = False
    ref = np_kd_per_sample(cams, valid, temperature)
    out = hnc_loss(torch.from_numpy(cams), torch.from_numpy(valid),
                   mode='kd', temperature=temperature, reduction='none')
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    mean = hnc_loss(torch.from_numpy(cams), torch.from_numpy(valid),
                    mode='kd', temperature=temperature)
    np.testing.assert_allclose(mean.item(), ref.mean(), rtol=1e-5)


@pytest.mark.parametrize('alpha', [0.0, 0.7])
def test_mse_matches_numpy(alpha):
    rng = np.random.default_rng(1)
    cams = rng.normal(size=(3, 4, 7, 7)).astype(np.float32)
    valid = np.ones((3, 4), bool)
    valid[0, 3] = False
    valid[1, :] = False  # a sample without negatives contributes 0
    ref = np_mse_per_sample(cams, valid, alpha)
    out = hnc_loss(torch.from_numpy(cams), torch.from_numpy(valid),
                   mode='mse', alpha=alpha, reduction='none')
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_kd_properties():
    # Constant CAMs reach the minimum k*log(P); kd is shift invariant.
    flat = torch.full((2, 3, 4, 4), 5.0)
    out = hnc_loss(flat, mode='kd', reduction='none')
    np.testing.assert_allclose(out.numpy(), 3 * np.log(16), rtol=1e-6)
    x = torch.randn(2, 3, 4, 4)
    a = hnc_loss(x, mode='kd', reduction='none')
    b = hnc_loss(x + 10.0, mode='kd', reduction='none')
    torch.testing.assert_close(a, b)
    assert (a > 3 * np.log(16)).all()


def test_reductions_weight_avg_factor():
    rng = np.random.default_rng(2)
    cams = torch.from_numpy(rng.normal(size=(5, 2, 3, 3)).astype(np.float32))
    per = hnc_loss(cams, reduction='none')
    w = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.5])
    torch.testing.assert_close(hnc_loss(cams, reduction='sum'), per.sum())
    torch.testing.assert_close(
        hnc_loss(cams, weight=w, reduction='mean'), (per * w).mean())
    torch.testing.assert_close(
        hnc_loss(cams, avg_factor=2.0, reduction='mean'), per.sum() / 2.0)
    # (N, k, P) input is the same as (N, k, H, W)
    torch.testing.assert_close(
        hnc_loss(cams.flatten(2), reduction='none'), per)


def test_module_weight_and_override():
    cams = torch.randn(3, 2, 4, 4)
    m = HNCLoss(k=2, mode='mse', alpha=0.3, loss_weight=0.07)
    ref = 0.07 * hnc_loss(cams, mode='mse', alpha=0.3)
    torch.testing.assert_close(m(cams), ref)
    assert m(cams, reduction_override='none').shape == (3, )


def test_module_gradient_pushes_towards_homogeneous():
    cams = torch.randn(2, 3, 4, 4, requires_grad=True)
    for mode in ('kd', 'mse'):
        loss = HNCLoss(k=3, mode=mode)(cams)
        grad, = torch.autograd.grad(loss, cams)
        # one gradient step lowers the spatial spread of every CAM
        stepped = cams.detach() - 0.1 * grad
        assert (stepped.flatten(2).std(-1) <
                cams.detach().flatten(2).std(-1)).all()


@pytest.mark.parametrize('kwargs, key', [
    (dict(mode='l1'), 'mode'),
    (dict(k=0), 'k'),
    (dict(k=2.5), 'k'),
    (dict(temperature=0.0), 'temperature'),
    (dict(reduction='avg'), 'reduction'),
])
def test_module_bad_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        HNCLoss(**kwargs)


def test_check_num_classes_names_key():
    HNCLoss(k=9).check_num_classes(10)
    with pytest.raises(ValueError, match=r'model\.head\.hnc_loss\.k=10'):
        HNCLoss(k=10).check_num_classes(10)


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
    target = torch.tensor([[0.7, 0.3, 0, 0, 0, 0],
                           [0, 0, 0.4, 0, 0.6, 0]])
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
        select_negatives(torch.zeros(2, 10), torch.zeros(2, 10, dtype=bool),
                         10)
