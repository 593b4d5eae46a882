"""Soft-encoding against brute-force numpy nearest neighbours."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from colorssl.color import SoftEncoder, load_ab_bins, nearest_bin, rgb8_to_lab

BINS = load_ab_bins()


def numpy_reference(points: np.ndarray, bins: np.ndarray, k: int, sigma: float):
    """Distances to all bins in float64, argsort, Gaussian weights.

    Returns: idx (M, K) sorted by distance, d2 (M, K), weights (M, K), and
    all squared distances (M, Q).
    """
    d2 = ((points[:, None, :] - bins[None].astype(np.float64))**2).sum(-1)
    idx = np.argsort(d2, axis=1, kind='stable')[:, :k]
    dk = np.take_along_axis(d2, idx, axis=1)
    w = np.exp(-(dk - dk[:, :1]) / (2 * sigma**2))
    return idx, dk, w / w.sum(1, keepdims=True), d2


def numpy_tie_rule(points: np.ndarray, bins: np.ndarray, k: int) -> np.ndarray:
    """The documented ranking: squared distance (computed in the dtype of
    ``points``, rounded to float32), then bin index."""
    d2 = ((points[:, None, :] - bins[None].astype(points.dtype))**2).sum(-1)
    d2 = d2.astype(np.float32)
    order = np.lexsort((np.broadcast_to(np.arange(len(bins)), d2.shape), d2), axis=1)
    return order[:, :k]


def as_image(points: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """(M, 2) points -> (2, 2, M // 2, 1)-shaped ab batch (M even)."""
    m = len(points)
    x = torch.from_numpy(np.ascontiguousarray(points)).to(dtype)
    return x.view(2, m // 2, 2).permute(0, 2, 1).unsqueeze(-1).contiguous()


def from_image(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) -> (N * H * W, C), pixels in (n, h, w) order."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]).double().numpy()


def test_image_helpers_round_trip():
    pts = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.testing.assert_array_equal(from_image(as_image(pts)), pts)


def sample_points(rng, bins: np.ndarray, n: int) -> np.ndarray:
    """Points near bins, at gamut edges and far outside the bin set."""
    near = bins[rng.integers(0, len(bins), n)] + rng.uniform(-8, 8, (n, 2))
    wide = rng.uniform(-140, 140, (n // 4, 2))
    far = rng.uniform(-1, 1, (n // 8, 2)) * np.array([[1000.0, 400.0]])
    edge_bins = bins[np.argsort(np.abs(bins).sum(1))[-40:]]
    edge = np.repeat(edge_bins, 4, axis=0) + rng.uniform(-15, 15, (160, 2))
    pts = np.concatenate([near, wide, far, edge])
    return pts[:len(pts) // 2 * 2]


def check_against_numpy(enc, ab, k, sigma):
    """Compare ``enc(ab)`` with the numpy reference on every pixel."""
    bins = enc.bins.double().numpy()
    points = from_image(ab)  # what the encoder sees (after float rounding)
    idx, weight = enc(ab)
    assert idx.dtype == torch.int64 and weight.dtype == ab.dtype
    assert idx.shape == weight.shape == (ab.shape[0], k) + ab.shape[2:]
    idx, weight = from_image(idx).astype(np.int64), from_image(weight)
    ref_idx, ref_d2, ref_w, all_d2 = numpy_reference(points, bins, k, sigma)
    # The same K distances, nearest first (robust to exact ties).
    d2 = np.take_along_axis(all_d2, idx, axis=1)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-6, atol=1e-6)
    assert (np.sort(idx, 1)[:, 1:] != np.sort(idx, 1)[:, :-1]).all()
    # Where the K-th and (K+1)-th distances are apart, the very same bins.
    gap = np.sort(all_d2, 1)
    clear = (gap[:, k] - gap[:, k - 1]) > 1e-4 * (1 + gap[:, k])
    np.testing.assert_array_equal(np.sort(idx[clear], 1), np.sort(ref_idx[clear], 1))
    # Gaussian weights of the chosen bins' distances; the reference's where
    # the choice is clear.
    atol = 1e-6 if ab.dtype == torch.float32 else 1e-12
    gauss = np.exp(-(d2 - d2[:, :1]) / (2 * sigma**2))
    np.testing.assert_allclose(weight, gauss / gauss.sum(1, keepdims=True), atol=atol)
    np.testing.assert_allclose(weight[clear], ref_w[clear], atol=atol)
    np.testing.assert_allclose(weight.sum(1), 1.0, atol=1e-6)


@pytest.mark.parametrize('k', [1, 2, 5, 10])
def test_matches_numpy_on_synthetic_points(k):
    rng = np.random.default_rng(k)
    enc = SoftEncoder(BINS, num_neighbors=k, sigma=5.0)
    check_against_numpy(enc, as_image(sample_points(rng, BINS.numpy(), 3000)), k, 5.0)


@pytest.mark.parametrize('k', [5, 10])
def test_matches_numpy_on_real_photos(photos, k):
    """ab of real photos, full size and area-pooled to 1/4 as the
    colorization head encodes them."""
    enc = SoftEncoder(BINS, num_neighbors=k, sigma=5.0)
    cifar = rgb8_to_lab(photos['cifar'])[:, 1:]
    camvid = rgb8_to_lab(photos['camvid'])[:, 1:]
    for x in (cifar[:8], F.adaptive_avg_pool2d(cifar, 8),
              F.adaptive_avg_pool2d(camvid, [44, 42])):
        check_against_numpy(enc, x, k, 5.0)
        ref = numpy_tie_rule(from_image(x).astype(np.float32), BINS.numpy(), k)
        assert np.array_equal(from_image(enc(x)[0]), ref)


def test_ties_go_to_the_lower_bin_index():
    # Lattice points and cell centres: many exactly equal distances.
    g = np.arange(-120, 121, 5.0)
    pts = np.stack(np.meshgrid(g, g, indexing='ij'), -1).reshape(-1, 2)
    pts = pts[:len(pts) // 2 * 2]
    for k in (1, 5, 10):
        enc = SoftEncoder(BINS, num_neighbors=k, sigma=2.5)
        ab = as_image(pts)
        check_against_numpy(enc, ab, k, 2.5)
        ref = numpy_tie_rule(pts, BINS.numpy(), k)
        np.testing.assert_array_equal(from_image(enc(ab)[0]), ref)
    # A point halfway between two bins: the lower index comes first.
    ab = torch.tensor([0.0, 5.0]).view(1, 2, 1, 1)
    i, j = nearest_bin(torch.tensor([0.0, 0.0]).view(1, 2, 1, 1), BINS), \
        nearest_bin(torch.tensor([0.0, 10.0]).view(1, 2, 1, 1), BINS)
    idx, weight = SoftEncoder(BINS, num_neighbors=2)(ab)
    assert idx.view(-1).tolist() == sorted([int(i), int(j)])
    torch.testing.assert_close(weight.view(-1), torch.tensor([0.5, 0.5]))


def test_float64_input():
    rng = np.random.default_rng(1)
    enc = SoftEncoder(BINS, num_neighbors=5)
    ab = as_image(sample_points(rng, BINS.numpy(), 600), torch.float64)
    check_against_numpy(enc, ab, 5, 5.0)


def test_bins_off_a_lattice():
    rng = np.random.default_rng(4)
    bins = torch.from_numpy(rng.uniform(-80, 80, (50, 2))).float()
    enc = SoftEncoder(bins, num_neighbors=5, sigma=5.0)
    check_against_numpy(enc, as_image(sample_points(rng, bins.numpy(), 400)), 5, 5.0)


def test_nearest():
    rng = np.random.default_rng(6)
    pts = sample_points(rng, BINS.numpy(), 800)
    ab = as_image(pts)
    enc = SoftEncoder(BINS, 5, 5.0)
    idx, _ = enc(ab)
    ref_idx = numpy_reference(pts, BINS.double().numpy(), 1, 5.0)[0][:, 0]
    for near in (nearest_bin(ab, BINS), enc.nearest(ab)):
        assert near.shape == (2, ) + ab.shape[2:]
        np.testing.assert_array_equal(
            from_image(near.unsqueeze(1))[:, 0].astype(int), ref_idx)
    assert torch.equal(idx[:, 0], enc.nearest(ab))


def test_module_behaviour():
    enc = SoftEncoder(BINS, num_neighbors=10)
    assert enc.state_dict() == {}  # the bins come from the config
    assert 'num_neighbors=10' in repr(enc)
    ab = torch.zeros(1, 2, 3, 4, requires_grad=True)
    idx, weight = enc(ab)
    assert not weight.requires_grad
    ab16 = torch.zeros(1, 2, 3, 4, dtype=torch.float16)
    assert enc(ab16)[1].dtype == torch.float32


@pytest.mark.parametrize('shape', [(0, 2, 5, 7), (1, 2, 1, 1), (3, 2, 7, 3),
                                   (2, 2, 0, 4)])
def test_any_size_and_empty_batches(shape):
    ab = torch.rand(shape) * 200 - 100
    enc = SoftEncoder(BINS, num_neighbors=5)
    idx, weight, pixel_w = enc(ab, bin_weight=torch.ones(313))
    n, _, h, w = shape
    assert idx.shape == weight.shape == (n, 5, h, w)
    assert pixel_w.shape == (n, h, w) and enc.nearest(ab).shape == (n, h, w)
    if ab.numel():
        check_against_numpy(enc, ab, 5, 5.0)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_bin_weight_of_the_nearest_bin(dtype):
    rng = np.random.default_rng(3)
    ab = as_image(sample_points(rng, BINS.numpy(), 2000))  # incl. far points
    enc = SoftEncoder(BINS, num_neighbors=5)
    bin_weight = torch.from_numpy(rng.uniform(0.1, 5.0, len(BINS))).to(dtype)
    idx, weight, pixel_w = enc(ab, bin_weight=bin_weight)
    ref_idx, ref_weight = enc(ab)
    assert torch.equal(idx, ref_idx) and torch.equal(weight, ref_weight)
    assert pixel_w.shape == (2, ab.shape[2], 1) and pixel_w.dtype == dtype
    nearest = numpy_reference(from_image(ab), BINS.double().numpy(), 1, 5.0)[0][:, 0]
    np.testing.assert_array_equal(
        from_image(pixel_w.unsqueeze(1))[:, 0],
        bin_weight.double().numpy()[nearest])
    with pytest.raises(ValueError, match=r'bin_weight must have shape \(313,\)'):
        enc(ab, bin_weight=torch.ones(312))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'ab must have shape \(N, 2, H, W\)'):
        SoftEncoder(BINS)(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match='ab contains non-finite'):
        SoftEncoder(BINS)(torch.full((1, 2, 2, 2), float('nan')))
    inf = torch.zeros(1, 2, 2, 2)
    inf[0, 1, 1, 0] = float('inf')
    with pytest.raises(ValueError, match='ab contains non-finite'):
        SoftEncoder(BINS).nearest(inf)
    with pytest.raises(TypeError, match='ab must be a floating'):
        SoftEncoder(BINS)(torch.zeros(1, 2, 2, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match='ab must be a Tensor'):
        SoftEncoder(BINS)(np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match='num_neighbors'):
        SoftEncoder(BINS, num_neighbors=314)
    with pytest.raises(ValueError, match='num_neighbors'):
        SoftEncoder(BINS, num_neighbors=0)
    with pytest.raises(ValueError, match='sigma'):
        SoftEncoder(BINS, sigma=0.0)
    with pytest.raises(ValueError, match=r'bins must have shape \(Q, 2\)'):
        SoftEncoder(torch.zeros(5, 3))
    with pytest.raises(ValueError, match='bins contain non-finite'):
        SoftEncoder(torch.tensor([[0.0, float('nan')]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    rng = np.random.default_rng(7)
    ab = as_image(sample_points(rng, BINS.numpy(), 2000))
    enc = SoftEncoder(BINS, num_neighbors=10)
    idx, weight = enc(ab)
    idx_c, weight_c = enc.to('cuda')(ab.cuda())
    assert torch.equal(idx_c.cpu(), idx)
    torch.testing.assert_close(weight_c.cpu(), weight, atol=1e-6, rtol=0)
    assert torch.equal(enc.nearest(ab.cuda()).cpu(), idx[:, 0])
