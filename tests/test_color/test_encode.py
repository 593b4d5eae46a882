"""Soft-encoding against brute-force numpy nearest neighbours."""
import numpy as np
import pytest
import torch

from colorssl.color import (SoftEncoder, load_ab_bins, nearest_bin,
                            soft_encode, soft_encode_dense)
from colorssl.color.encode import _SUBDIVISIONS, _subcell_tables

BINS = load_ab_bins()


@pytest.fixture(autouse=True, params=['numba', 'torch'])
def cpu_path(request, monkeypatch):
    """Every test runs on both CPU paths: the fused numba kernel (float32,
    where it applies; soft_encode_cpu.py) and the pure-torch one."""
    if request.param == 'numba':
        pytest.importorskip('numba')
    monkeypatch.setenv('COLORSSL_NUMBA', '1' if request.param == 'numba'
                       else '0')
    return request.param


def brute_force(points: np.ndarray, bins: np.ndarray, k: int, sigma: float):
    """Reference: (idx (M, K) sorted by distance, d2 (M, K), weights)."""
    d2 = ((points[:, None, :] - bins[None].astype(np.float64))**2).sum(-1)
    idx = np.argsort(d2, axis=1, kind='stable')[:, :k]
    dk = np.take_along_axis(d2, idx, axis=1)
    w = np.exp(-(dk - dk[:, :1]) / (2 * sigma**2))
    return idx, dk, w / w.sum(1, keepdims=True)


def as_image(points: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """(M, 2) points -> (2, 2, M // 2, 1)-shaped ab batch (M even)."""
    m = len(points)
    x = torch.from_numpy(np.ascontiguousarray(points)).to(dtype)
    return x.view(2, m // 2, 2).permute(0, 2, 1).unsqueeze(-1).contiguous()


def from_image(x: torch.Tensor) -> np.ndarray:
    """Inverse of ``as_image`` for (2, C, M // 2, 1) outputs -> (M, C)."""
    c = x.shape[1]
    return x.permute(0, 2, 3, 1).reshape(-1, c).double().numpy()


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


def check_against_brute_force(enc, points, k, sigma, dtype=torch.float32):
    bins = enc.bins.double().numpy()
    ab = as_image(points, dtype)
    points = from_image(ab)  # what the encoder sees (float32 rounding)
    idx, weight = enc(ab)
    assert idx.dtype == torch.int64 and weight.dtype == dtype
    assert idx.shape == weight.shape == (2, k, len(points) // 2, 1)
    idx, weight = from_image(idx).astype(np.int64), from_image(weight)
    ref_idx, ref_d2, ref_w = brute_force(points, bins, k, sigma)
    all_d2 = ((points[:, None, :] - bins[None])**2).sum(-1)

    def ties_at(d):  # rows where another bin lies at the same distance
        return (np.abs(all_d2 - d[:, None]) < 1e-6).sum(1) > 1

    # idx[:, 0] is a nearest bin (the one brute force picks unless tied),
    # the set of distances is the same (robust to exact ties), as are the
    # weights and the dense distribution.
    d2 = ((points[:, None, :] - bins[idx])**2).sum(-1)
    np.testing.assert_allclose(d2[:, 0], ref_d2[:, 0], rtol=1e-6, atol=1e-6)
    tie0 = ties_at(ref_d2[:, 0])
    np.testing.assert_array_equal(idx[~tie0, 0], ref_idx[~tie0, 0])
    np.testing.assert_allclose(np.sort(d2, 1), ref_d2, rtol=1e-6, atol=1e-6)
    assert (np.sort(idx, 1)[:, 1:] != np.sort(idx, 1)[:, :-1]).all()
    np.testing.assert_allclose(weight.sum(1), 1.0, atol=1e-5)
    order = np.argsort(d2, axis=1, kind='stable')
    np.testing.assert_allclose(np.take_along_axis(weight, order, 1), ref_w,
                               atol=2e-5)
    dense = np.zeros((len(points), len(bins)))
    np.put_along_axis(dense, idx, weight, axis=1)
    ref_dense = np.zeros_like(dense)
    np.put_along_axis(ref_dense, ref_idx, ref_w, axis=1)
    # Rows with an exact tie at the K-th distance may pick another bin.
    kth = ref_d2[:, -1]
    tie = (np.abs(all_d2 - kth[:, None]) < 1e-6).sum(1) > (
        np.abs(ref_d2 - kth[:, None]) < 1e-6).sum(1)
    np.testing.assert_allclose(dense[~tie], ref_dense[~tie], atol=2e-5)


@pytest.mark.parametrize('k', [1, 2, 5, 10])
def test_matches_brute_force_on_the_313_bins(k):
    rng = np.random.default_rng(k)
    enc = SoftEncoder(BINS, num_neighbors=k, sigma=5.0)
    assert enc.on_lattice
    check_against_brute_force(enc, sample_points(rng, BINS.numpy(), 3000), k,
                              5.0)


def test_lattice_points_half_points_and_other_sigma():
    # Exact lattice points and cell centres: many equal distances.
    g = np.arange(-120, 121, 5.0)
    pts = np.stack(np.meshgrid(g, g, indexing='ij'), -1).reshape(-1, 2)
    pts = pts[:len(pts) // 2 * 2]
    for k in (5, 10):
        enc = SoftEncoder(BINS, num_neighbors=k, sigma=2.5)
        check_against_brute_force(enc, pts, k, 2.5)


def test_float64_input():
    rng = np.random.default_rng(1)
    enc = SoftEncoder(BINS, num_neighbors=5)
    pts = sample_points(rng, BINS.numpy(), 600)
    check_against_brute_force(enc, pts, 5, 5.0, dtype=torch.float64)


def test_points_in_unresolved_subcells_and_rank_path():
    """Points where the tables cannot decide alone (the exact-ranking path),
    placed in cells of the bin set's interior and at its edge."""
    k = 10
    tables = _subcell_tables(k, _SUBDIVISIONS)
    unresolved = np.nonzero(tables['sub_sets'][:, 0] < 0)[0]
    assert 0 < len(unresolved) < 0.01 * _SUBDIVISIONS**2
    rng = np.random.default_rng(2)
    sub = rng.choice(unresolved, 1000)
    frac = (np.stack([sub // _SUBDIVISIONS, sub % _SUBDIVISIONS], 1) +
            rng.uniform(0, 1, (1000, 2))) / _SUBDIVISIONS
    cells = BINS.numpy()[rng.integers(0, 313, 1000)]
    pts = cells + 10.0 * frac
    enc = SoftEncoder(BINS, num_neighbors=k)
    check_against_brute_force(enc, pts, k, 5.0)


def test_subcell_tables_hold_over_whole_subcells():
    """Every resolved sub-cell's set rule gives the K nearest points of the
    infinite lattice at random positions, not only at sub-cell centres."""
    rng = np.random.default_rng(3)
    for k in (1, 5, 10):
        t = _subcell_tables(k, _SUBDIVISIONS)
        w = t['window']
        axis = np.arange(-w - 2, w + 4)
        lattice = np.stack(np.meshgrid(axis, axis, indexing='ij'),
                           -1).reshape(-1, 2)
        r = rng.uniform(0, 1, (20000, 2))
        sub = (np.floor(r[:, 0] * _SUBDIVISIONS) * _SUBDIVISIONS +
               np.floor(r[:, 1] * _SUBDIVISIONS)).astype(int)
        set_a, set_b = t['sub_sets'][sub].T
        ok = set_a >= 0
        coef = t['sub_coef'][sub]
        take_a = coef[:, 0] + coef[:, 1] * r[:, 0] + coef[:, 2] * r[:, 1] < 0
        chosen = t['sets'][np.where(take_a, set_a, set_b)[ok]]  # (m, K, 2)
        d2 = ((r[ok, None, :] - lattice[None])**2).sum(-1)
        ref = np.sort(d2, axis=1)[:, :k]
        got = np.sort(((r[ok, None, :] - chosen)**2).sum(-1), axis=1)
        np.testing.assert_allclose(got, ref, atol=1e-9)
        # Slot 0 is the nearest lattice point.
        np.testing.assert_allclose(got[:, 0],
                                   ((r[ok] - chosen[:, 0])**2).sum(-1))
        assert ok.mean() > 0.99


def test_bins_off_the_lattice_use_brute_force():
    rng = np.random.default_rng(4)
    bins = torch.from_numpy(rng.uniform(-80, 80, (50, 2))).float()
    enc = SoftEncoder(bins, num_neighbors=5, sigma=5.0)
    assert not enc.on_lattice
    check_against_brute_force(enc, sample_points(rng, bins.numpy(), 400), 5,
                              5.0)


def test_other_lattice_spacing():
    rng = np.random.default_rng(5)
    bins = BINS * 0.5 + 1.0  # grid 5, shifted origin
    enc = SoftEncoder(bins, num_neighbors=5, sigma=2.0, grid=5)
    assert enc.on_lattice
    check_against_brute_force(enc, sample_points(rng, bins.numpy(), 800), 5,
                              2.0)


def test_functional_forms_and_nearest():
    rng = np.random.default_rng(6)
    pts = sample_points(rng, BINS.numpy(), 800)
    ab = as_image(pts)
    idx, weight = soft_encode(ab, BINS, num_neighbors=5, sigma=5.0)
    enc = SoftEncoder(BINS, 5, 5.0)
    idx2, weight2 = enc(ab)
    assert torch.equal(idx, idx2) and torch.equal(weight, weight2)
    dense = soft_encode_dense(ab, BINS, num_neighbors=5, sigma=5.0)
    assert dense.shape == (2, 313) + ab.shape[2:]
    torch.testing.assert_close(dense.sum(1), torch.ones(2, *ab.shape[2:]))
    assert torch.equal(dense.gather(1, idx), weight)
    assert ((dense > 0).sum(1) <= 5).all()  # far points: weights underflow
    ref_idx = brute_force(pts, BINS.double().numpy(), 1, 5.0)[0][:, 0]
    for near in (nearest_bin(ab, BINS), enc.nearest(ab)):
        assert near.shape == (2, ) + ab.shape[2:]
        np.testing.assert_array_equal(
            from_image(near.unsqueeze(1))[:, 0].astype(int), ref_idx)
    assert torch.equal(idx[:, 0], enc.nearest(ab))


def test_module_behaviour():
    enc = SoftEncoder(BINS, num_neighbors=10)
    assert enc.state_dict() == {}  # tables are rebuilt, not checkpointed
    assert 'num_neighbors=10' in repr(enc)
    ab = torch.zeros(1, 2, 3, 4, requires_grad=True)
    idx, weight = enc(ab)
    assert not weight.requires_grad
    ab16 = torch.zeros(1, 2, 3, 4, dtype=torch.float16)
    assert enc(ab16)[1].dtype == torch.float32


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
    # Independent of the encoder's own nearest bin: numpy brute force.
    pts = from_image(ab)
    nearest = brute_force(pts, BINS.double().numpy(), 1, 5.0)[0][:, 0]
    np.testing.assert_array_equal(
        from_image(pixel_w.unsqueeze(1))[:, 0], bin_weight.double().numpy()[nearest])
    with pytest.raises(ValueError, match=r'bin_weight must have shape \(313,\)'):
        enc(ab, bin_weight=torch.ones(312))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'\(N, 2, H, W\)'):
        SoftEncoder(BINS)(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match='non-finite'):
        SoftEncoder(BINS)(torch.full((1, 2, 2, 2), float('nan')))
    with pytest.raises(TypeError, match='floating'):
        SoftEncoder(BINS)(torch.zeros(1, 2, 2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match='num_neighbors'):
        SoftEncoder(BINS, num_neighbors=314)
    with pytest.raises(ValueError, match='num_neighbors'):
        SoftEncoder(BINS, num_neighbors=0)
    with pytest.raises(ValueError, match='sigma'):
        SoftEncoder(BINS, sigma=0.0)
    with pytest.raises(ValueError, match=r'\(Q, 2\)'):
        SoftEncoder(torch.zeros(5, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    rng = np.random.default_rng(7)
    ab = as_image(sample_points(rng, BINS.numpy(), 2000))
    enc = SoftEncoder(BINS, num_neighbors=10)
    idx, weight = enc(ab)
    idx_c, weight_c = enc.to('cuda')(ab.cuda())
    assert torch.equal(idx_c.cpu(), idx)
    torch.testing.assert_close(weight_c.cpu(), weight, atol=1e-5, rtol=0)
    assert torch.equal(enc.nearest(ab.cuda()).cpu(), idx[:, 0])
