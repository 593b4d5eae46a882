"""The fused numba kernel of SoftEncoder: when it runs, and that it gives the
torch path's result. Correctness against brute force is checked for both
paths in test_encode.py."""
import numpy as np
import pytest
import torch

from colorssl.color import SoftEncoder, load_ab_bins, soft_encode_cpu

pytest.importorskip('numba')

BINS = load_ab_bins()


def encode(enc, ab, switch, monkeypatch):
    monkeypatch.setenv('COLORSSL_NUMBA', switch)
    idx, weight = enc(ab)
    return idx.contiguous(), weight.contiguous()


def sample_ab(seed=0):
    """(3, 2, 40, 30): plausible colours, gamut edges and far points."""
    g = torch.Generator().manual_seed(seed)
    ab = torch.randn(3, 2, 40, 30, generator=g) * 35
    ab[1] = torch.rand(2, 40, 30, generator=g) * 260 - 130
    ab[2, :, :10] = torch.rand(2, 10, 30, generator=g) * 2e3 - 1e3
    return ab


@pytest.mark.parametrize('k,sigma,used', [(5, 5.0, True), (10, 5.0, True),
                                          (2, 2.0, True), (5, 20.0, True),
                                          (1, 5.0, False), (5, 1.0, False)])
def test_when_the_kernel_serves(k, sigma, used):
    enc = SoftEncoder(BINS, num_neighbors=k, sigma=sigma)
    assert (enc._kernel is not None) == used
    if used:
        t = enc._kernel
        lanes = t['lanes']
        assert lanes >= k and lanes & (lanes - 1) == 0  # a power of two
        assert t['ratio'].shape == (enc._num_sets, lanes)
        # Lane 0 is slot 0 (weight ratio 1, offset 0), padding has ratio 0.
        assert (t['ratio'][:, 0] == 1).all() and (t['ratio'][:, k:] == 0).all()
        # Slot 0 has offset 0 (du = dv = 0); factors are ratio or 0, 0/1.
        assert (t['coef'][:, 2, 0] == 1).all() and (t['coef'][:, 5, 0] == 1).all()
        assert (t['coef'][:, :2, 0] == 0).all() and (t['coef'][:, 3:5, 0] == 0).all()
        np.testing.assert_array_equal(t['coef'][:, :3].sum(1), t['ratio'])
        assert set(np.unique(t['coef'][:, 3:])) <= {0.0, 1.0}
        assert t['depth'] >= 1 and t['exp_steps'] >= 256


@pytest.mark.parametrize('k,sigma,depth', [(5, 5.0, 1), (10, 5.0, 2),
                                           (2, 2.0, 1), (5, 20.0, 1),
                                           (20, 10.0, 3)])
def test_kernel_matches_torch_path(k, sigma, depth, monkeypatch):
    # depth: largest lattice offset within a K-set (1: the closed-form
    # powers of E; 2, 3: the general powers).
    enc = SoftEncoder(BINS, num_neighbors=k, sigma=sigma)
    assert enc._kernel['depth'] == depth
    ab = sample_ab(k)
    idx, weight = encode(enc, ab, '1', monkeypatch)
    ref_idx, ref_weight = encode(enc, ab, '0', monkeypatch)
    assert idx.dtype == torch.int64 and weight.dtype == torch.float32
    # Far points (|ab| ~ 1000) are ranked in float64 by the kernel and in
    # float32 by the torch path: compare the plausible range exactly.
    near = ab.abs().amax(1) < 200  # (N, H, W)
    sel = near[:, None].expand_as(idx)
    np.testing.assert_array_equal(
        idx.sort(1)[0][sel].numpy(), ref_idx.sort(1)[0][sel].numpy())
    torch.testing.assert_close(idx[:, 0], ref_idx[:, 0])
    dense = torch.zeros(3, 313, 40, 30).scatter_(1, idx, weight)
    ref_dense = torch.zeros(3, 313, 40, 30).scatter_(1, ref_idx, ref_weight)
    torch.testing.assert_close(dense.permute(0, 2, 3, 1)[near],
                               ref_dense.permute(0, 2, 3, 1)[near],
                               rtol=0, atol=1e-5)
    torch.testing.assert_close(weight.sum(1), torch.ones(3, 40, 30))


def test_far_points_match_float64_brute_force(monkeypatch):
    enc = SoftEncoder(BINS, num_neighbors=5)
    g = torch.Generator().manual_seed(5)
    ab = torch.rand(1, 2, 50, 40, generator=g) * 1e4 - 5e3
    idx, weight = encode(enc, ab, '1', monkeypatch)
    pts = ab.permute(0, 2, 3, 1).reshape(-1, 2).double()
    d2 = ((pts[:, None] - BINS.double()[None]) ** 2).sum(-1)
    ref = d2.topk(5, largest=False).indices
    got = idx.permute(0, 2, 3, 1).reshape(-1, 5)
    assert (got.sort(1)[0] == ref.sort(1)[0]).all()
    dk = d2.gather(1, got)
    w = torch.exp(-(dk - dk[:, :1]) / 50.0)
    w = w / w.sum(1, keepdim=True)
    torch.testing.assert_close(weight.permute(0, 2, 3, 1).reshape(-1, 5),
                               w.float(), rtol=0, atol=1e-6)


def test_threads_give_identical_results(monkeypatch):
    enc = SoftEncoder(BINS, num_neighbors=5)
    ab = sample_ab(7).repeat(4, 1, 1, 1)  # 14400 points per image
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = encode(enc, ab, '1', monkeypatch)
        torch.set_num_threads(2)
        two = encode(enc, ab, '1', monkeypatch)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_empty_and_strided_inputs(monkeypatch):
    enc = SoftEncoder(BINS, num_neighbors=5)
    idx, weight = encode(enc, torch.zeros(2, 2, 0, 4), '1', monkeypatch)
    assert idx.shape == weight.shape == (2, 5, 0, 4)
    ab = sample_ab(3)
    strided = ab.transpose(2, 3)  # not contiguous
    got = encode(enc, strided, '1', monkeypatch)
    ref = encode(enc, strided.contiguous(), '1', monkeypatch)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


def test_build_tables_rejects_what_it_cannot_serve():
    ok = soft_encode_cpu.build_tables(np.zeros((4, 3)), np.full((4, 3), 4.0),
                                      np.zeros((4, 3)), 4.0)
    assert ok is not None and ok['depth'] == 1
    # Offsets that are not integer multiples of the scale: not a lattice.
    assert soft_encode_cpu.build_tables(np.zeros((4, 3)),
                                        np.full((4, 3), 3.0),
                                        np.zeros((4, 3)), 4.0) is None
    # Powers of E too large for float32 accuracy.
    assert soft_encode_cpu.build_tables(np.zeros((4, 3)),
                                        np.full((4, 3), 50.0),
                                        np.zeros((4, 3)), 50.0) is None


def test_each_kernel_variant_is_checked_once_against_the_torch_path(
        monkeypatch):
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    enc = SoftEncoder(BINS, num_neighbors=5)
    checks = []
    check = enc._agrees_with_torch_path
    monkeypatch.setattr(enc, '_agrees_with_torch_path',
                        lambda *a, **kw: checks.append(a[-1]) or check(*a, **kw))
    ab = sample_ab(1)
    lab = torch.cat([torch.zeros(3, 1, 40, 30), ab], 1)
    bin_weight = torch.rand(313)
    # Nothing to compare (empty, or only far points): decided later.
    enc(torch.zeros(1, 2, 0, 5))
    enc(torch.full((1, 2, 4, 4), 500.0))
    assert enc._kernel_ok == {}
    for _ in range(2):
        enc(ab)
        enc(lab[:, 1:])  # an (N, 2, H*W) view that is not C-contiguous
        enc(ab, bin_weight=bin_weight)
    assert checks == [('C', False)] * 3 + [('A', False), ('C', True)]
    assert all(enc._kernel_ok[v] for v in checks)


def test_a_kernel_that_disagrees_is_replaced_by_the_torch_path(monkeypatch):
    # A miscompiled kernel (simulated: two slots' weights swapped) must be
    # caught by the first-use check, with a warning, and never used again.
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    enc = SoftEncoder(BINS, num_neighbors=5)
    real = soft_encode_cpu.soft_encode_cpu
    calls = []

    def broken(ab, encoder, bin_weight=None):
        calls.append(1)
        idx, weight, *rest = real(ab, encoder, bin_weight)
        return (idx, weight[:, [1, 0, 2, 3, 4]].contiguous(), *rest)

    monkeypatch.setattr(soft_encode_cpu, 'soft_encode_cpu', broken)
    ab = sample_ab(2)
    with pytest.warns(UserWarning, match='disagrees with the torch path'):
        idx, weight = enc(ab)
    assert enc._kernel_ok == {('C', False): False}
    idx2, weight2 = enc(ab)
    assert len(calls) == 1  # not called again
    ref_idx, ref_weight = encode(enc, ab, '0', monkeypatch)
    for got in ((idx, weight), (idx2, weight2)):
        assert torch.equal(got[0], ref_idx) and torch.equal(got[1], ref_weight)
