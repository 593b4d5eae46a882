"""Empirical prior, smoothing, rebalancing weights and prior files."""
import json

import numpy as np
import pytest
import torch

from colorssl.color import (DEFAULT_PRIOR, histogram_ab, load_ab_bins, load_prior,
                            rebalance_weights, save_prior, smooth_prior)

BINS = load_ab_bins()


def numpy_nearest_counts(points: np.ndarray, bins: np.ndarray) -> np.ndarray:
    d2 = ((points[:, None, :] - bins[None])**2).sum(-1)
    return np.bincount(d2.argmin(1), minlength=len(bins))


def test_histogram_matches_brute_force_in_both_layouts():
    rng = np.random.default_rng(0)
    pts = BINS.numpy()[rng.integers(0, 100, 4000)] + rng.uniform(-6, 6, (4000, 2))
    ref = numpy_nearest_counts(
        pts.astype(np.float32).astype(np.float64),
        BINS.double().numpy())
    flat = torch.from_numpy(pts).float()
    counts = histogram_ab(flat, BINS)
    assert counts.shape == (313, ) and counts.dtype == torch.int64
    np.testing.assert_array_equal(counts.numpy(), ref)
    image = flat.view(4, 10, 100, 2).permute(0, 3, 1, 2)  # (N, 2, H, W)
    np.testing.assert_array_equal(histogram_ab(image, BINS).numpy(), ref)
    with pytest.raises(ValueError, match=r'\(M, 2\)'):
        histogram_ab(torch.zeros(5, 3), BINS)


def test_smooth_prior_matches_the_formula():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 313) * (rng.uniform(0, 1, 313) > 0.5)
    c = BINS.double().numpy()
    d2 = ((c[:, None] - c[None])**2).sum(-1)
    ref = np.exp(-d2 / (2 * 5.0**2)) @ p
    ref /= ref.sum()
    out = smooth_prior(torch.from_numpy(p), BINS, sigma=5.0)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    # A point mass spreads to its grid neighbours by exp(-100 / 50) each.
    delta = torch.zeros(313)
    centre = int(((BINS - torch.tensor([0.0, 0.0]))**2).sum(1).argmin())
    delta[centre] = 1
    s = smooth_prior(delta, BINS, sigma=5.0)
    assert s.dtype == torch.float32
    right = int(((BINS - torch.tensor([10.0, 0.0]))**2).sum(1).argmin())
    np.testing.assert_allclose(float(s[right] / s[centre]), np.exp(-2.0), rtol=1e-5)
    # A tiny sigma leaves the distribution unchanged.
    q = torch.from_numpy(p / p.sum())
    torch.testing.assert_close(smooth_prior(q, BINS, sigma=0.1), q)
    with pytest.raises(ValueError, match='sigma'):
        smooth_prior(q, BINS, sigma=0)
    with pytest.raises(ValueError, match='bins'):
        smooth_prior(q, BINS[:10])


def reference_weights(p, lam, uniform_over):
    """The released code's rule in numpy (for priors without zero bins or
    'all'), written out independently."""
    p = p / p.sum()
    if uniform_over == 'nonzero':
        u = (p > 0) / (p > 0).sum()
    else:
        u = np.full_like(p, 1.0 / len(p))
    f = 1.0 / ((1 - lam) * p + lam * u)
    return f / (p * f).sum()


@pytest.mark.parametrize('lam', [0.0, 0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize('uniform_over', ['nonzero', 'all'])
def test_rebalance_weights_closed_form(lam, uniform_over):
    rng = np.random.default_rng(2)
    p = rng.gamma(0.3, size=313) + 1e-9
    w = rebalance_weights(torch.from_numpy(p), lam=lam, uniform_over=uniform_over)
    np.testing.assert_allclose(
        w.numpy(), reference_weights(p, lam, uniform_over), rtol=1e-9)
    pn = p / p.sum()
    assert abs(float((w.numpy() * pn).sum()) - 1.0) < 1e-9
    if lam < 1:
        # Rarer bins get strictly larger weights.
        order = np.argsort(pn)
        assert (np.diff(w.numpy()[order]) < 0).all()
    else:
        np.testing.assert_allclose(w.numpy(), 1.0, rtol=1e-12)


def test_zero_prior_bins_get_finite_weights():
    p = torch.tensor([0.5, 0.3, 0.2, 0.0, 0.0], dtype=torch.float64)
    for lam in (0.0, 0.5, 1.0):
        for mode in ('nonzero', 'all'):
            w = rebalance_weights(p, lam=lam, uniform_over=mode)
            assert torch.isfinite(w).all()
            assert abs(float((w * p).sum()) - 1.0) < 1e-12
            assert (w[3:] >= w[:3].max() - 1e-12).all()
    # 'nonzero' is the released rule: u over the three seen bins.
    w = rebalance_weights(p, lam=0.5)
    ref = reference_weights(p[:3].numpy(), 0.5, 'nonzero')
    # Renormalised over the seen bins only, the weights agree.
    np.testing.assert_allclose(w[:3].numpy(), ref, rtol=1e-12)
    # The two modes differ once some bins are empty.
    assert not torch.allclose(w, rebalance_weights(p, 0.5, 'all'))
    assert torch.allclose(
        rebalance_weights(p[:3], 0.5, 'nonzero'), rebalance_weights(p[:3], 0.5, 'all'))


def test_rebalance_bad_inputs():
    p = torch.ones(4)
    with pytest.raises(ValueError, match='lam'):
        rebalance_weights(p, lam=1.5)
    with pytest.raises(ValueError, match='uniform_over'):
        rebalance_weights(p, uniform_over='some')
    with pytest.raises(ValueError, match='non-negative'):
        rebalance_weights(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match='positive sum'):
        rebalance_weights(torch.zeros(3))
    with pytest.raises(ValueError, match=r'\(Q,\)'):
        rebalance_weights(torch.ones(2, 2))


def test_save_and_load_round_trip(tmp_path):
    p = torch.rand(313, dtype=torch.float64)
    counts = torch.randint(0, 100, (313, ))
    meta = dict(data_dir='somewhere', sigma=5.0, command='python x.py')
    path = tmp_path / 'sub' / 'prior.npz'
    save_prior(str(path), p, BINS, meta, counts=counts)
    out = load_prior(path)
    torch.testing.assert_close(out['prior'], p)
    assert torch.equal(out['bins'], BINS)
    assert torch.equal(out['counts'], counts)
    assert out['meta'] == meta
    # Written exactly where asked, without an added suffix.
    other = tmp_path / 'prior.bin'
    save_prior(str(other), p, BINS, {})
    assert other.exists() and 'counts' not in load_prior(other)
    # Atomic: no temporary file is left beside the result.
    assert sorted(f.name for f in tmp_path.iterdir()) == ['prior.bin', 'sub']
    assert [f.name for f in (tmp_path / 'sub').iterdir()] == ['prior.npz']


def test_load_prior_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.npz'):
        load_prior(tmp_path / 'missing.npz')
    path = tmp_path / 'partial.npz'
    np.savez(path, prior=np.ones(3))
    with pytest.raises(ValueError, match=r"\['bins', 'meta'\]") as e:
        load_prior(path)
    assert 'partial.npz' in str(e.value)
    bad = tmp_path / 'bad.npz'
    np.savez(bad, prior=np.ones(3), bins=np.zeros((3, 2)), meta=np.array('{'))
    with pytest.raises(ValueError, match='JSON'):
        load_prior(bad)
    junk = tmp_path / 'junk.npz'
    junk.write_bytes(b'not a zip file')
    with pytest.raises(ValueError, match='junk.npz'):
        load_prior(junk)
    with pytest.raises(ValueError, match=r'\(Q,\)'):
        save_prior(str(tmp_path / 'x.npz'), torch.ones(3), BINS, {})


def test_shipped_default_prior():
    prior = load_prior(DEFAULT_PRIOR)
    assert torch.equal(prior['bins'], BINS)
    p = prior['prior']
    assert p.shape == (313, ) and (p >= 0).all()
    assert abs(float(p.sum()) - 1.0) < 1e-9
    meta = prior['meta']
    assert meta['bins'] == 'original313' and meta['sigma'] == 5.0
    assert meta['smoothed'] and 'cifar10-mini' in meta['data_dir']
    assert meta['command'].startswith('python tools/compute_color_prior.py')
    assert meta['num_images_used'] + meta['skipped_grayscale'] + meta[
        'skipped_corrupt'] == meta['num_images_considered']
    # The stored prior is the smoothed normalised counts.
    counts = prior['counts'].double()
    assert int(counts.sum()) == meta['num_pixels']
    torch.testing.assert_close(smooth_prior(counts / counts.sum(), BINS, 5.0), p)
    json.dumps(meta)
    w = rebalance_weights(p)
    assert torch.isfinite(w).all() and abs(float((w * p).sum()) - 1) < 1e-9
