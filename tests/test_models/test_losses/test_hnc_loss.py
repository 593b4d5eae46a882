"""HNC loss: functional core and module against an independent numpy reference."""
import numpy as np
import pytest
import torch

from colorssl.models.losses.hnc_loss import HNCLoss, hnc_loss


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
        terms = [((cams[i, j].astype(np.float64) - alpha)**2).mean() for j in range(k)
                 if valid[i, j]]
        out[i] = np.mean(terms) if terms else 0.0
    return out


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize('temperature', [1.0, 2.5])
def test_kd_matches_numpy(temperature):
    rng = np.random.default_rng(0)
    cams = rng.normal(scale=3.0, size=(4, 3, 5, 6)).astype(np.float32)
    valid = np.ones((4, 3), bool)
    valid[2, 1:] = False
    ref = np_kd_per_sample(cams, valid, temperature)
    out = hnc_loss(
        torch.from_numpy(cams),
        torch.from_numpy(valid),
        mode='kd',
        temperature=temperature,
        reduction='none')
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    mean = hnc_loss(
        torch.from_numpy(cams),
        torch.from_numpy(valid),
        mode='kd',
        temperature=temperature)
    np.testing.assert_allclose(mean.item(), ref.mean(), rtol=1e-5)


@pytest.mark.parametrize('alpha', [0.0, 0.7])
def test_mse_matches_numpy(alpha):
    rng = np.random.default_rng(1)
    cams = rng.normal(size=(3, 4, 7, 7)).astype(np.float32)
    valid = np.ones((3, 4), bool)
    valid[0, 3] = False
    valid[1, :] = False  # a sample without negatives contributes 0
    ref = np_mse_per_sample(cams, valid, alpha)
    out = hnc_loss(
        torch.from_numpy(cams),
        torch.from_numpy(valid),
        mode='mse',
        alpha=alpha,
        reduction='none')
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
        hnc_loss(cams, avg_factor=2.0, reduction='mean'),
        per.sum() / 2.0)
    # (N, k, P) input is the same as (N, k, H, W)
    torch.testing.assert_close(hnc_loss(cams.flatten(2), reduction='none'), per)


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
        assert (stepped.flatten(2).std(-1) < cams.detach().flatten(2).std(-1)).all()


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
