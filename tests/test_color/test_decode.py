"""Annealed-mean decoding against closed forms."""
import numpy as np
import pytest
import torch

from colorssl.color import annealed_mean, load_ab_bins

BINS = load_ab_bins()


def random_logits(seed=0, shape=(2, 313, 3, 4)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64) * 3


def test_temperature_one_is_the_mean():
    logits = random_logits()
    z = np.exp(logits.numpy())
    z /= z.sum(1, keepdims=True)
    ref = np.einsum('nqhw,qc->nchw', z, BINS.double().numpy())
    out = annealed_mean(logits, BINS, temperature=1.0)
    assert out.shape == (2, 2, 3, 4) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_small_temperature_gives_the_mode():
    logits = random_logits(1)
    mode = BINS.double()[logits.argmax(1)].permute(0, 3, 1, 2)
    out = annealed_mean(logits, BINS, temperature=1e-3)
    torch.testing.assert_close(out, mode, atol=1e-6, rtol=0)


def test_matches_the_papers_f_T_of_the_distribution():
    logits = random_logits(2)
    z = torch.softmax(logits, 1).numpy()
    t = 0.38
    f = np.exp(np.log(z) / t)
    f /= f.sum(1, keepdims=True)
    ref = np.einsum('nqhw,qc->nchw', f, BINS.double().numpy())
    out = annealed_mean(logits, BINS, temperature=t)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-8, atol=1e-8)
    # A convex combination of the bins: inside their bounding box.
    lo, hi = BINS.min(0).values, BINS.max(0).values
    assert (out.permute(0, 2, 3, 1) >= lo.double() - 1e-9).all()
    assert (out.permute(0, 2, 3, 1) <= hi.double() + 1e-9).all()


def test_gradient_and_dtype():
    logits = random_logits(3).float().requires_grad_()
    out = annealed_mean(logits, BINS)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_bad_arguments():
    logits = random_logits()
    for t in (0.0, -1.0):
        with pytest.raises(ValueError, match='temperature'):
            annealed_mean(logits, BINS, temperature=t)
    with pytest.raises(ValueError, match='Q = 313'):
        annealed_mean(logits, BINS[:10])
    with pytest.raises(ValueError, match=r'\(N, Q, H, W\)'):
        annealed_mean(logits[0], BINS)


def test_empty_batch_and_one_pixel():
    assert annealed_mean(torch.zeros(0, 313, 3, 4), BINS).shape == (0, 2, 3, 4)
    logits = random_logits(4, shape=(1, 313, 1, 1))
    z = torch.softmax(logits / 0.38, 1).view(313)
    ref = (z[:, None] * BINS.double()).sum(0)
    torch.testing.assert_close(annealed_mean(logits, BINS).view(2), ref)
