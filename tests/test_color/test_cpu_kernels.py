"""The numba CPU kernel of rgb8_to_lab against the pure-torch path."""
import numpy as np
import pytest
import torch

from colorssl.color import cpu_kernels, rgb8_to_lab

pytest.importorskip('numba')


def torch_path(rgb, monkeypatch, **kwargs):
    with monkeypatch.context() as m:
        m.setenv('COLORSSL_NUMBA', '0')
        assert not cpu_kernels.enabled()
        return rgb8_to_lab(rgb, **kwargs)


def test_switch(monkeypatch):
    monkeypatch.setenv('COLORSSL_NUMBA', '0')
    assert not cpu_kernels.enabled()
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    assert cpu_kernels.enabled()


def test_every_8bit_colour_matches_torch_path(monkeypatch):
    # All 2^24 colours, as one (1, 3, 4096, 4096) image.
    code = torch.arange(1 << 24, dtype=torch.int64)
    rgb = torch.stack([code >> 16, (code >> 8) & 255, code & 255]).to(
        torch.uint8).view(1, 3, 4096, 4096)
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    ours = rgb8_to_lab(rgb)
    ref = torch_path(rgb, monkeypatch)
    assert ours.dtype == torch.float32 and ours.shape == rgb.shape
    # Both are float32 evaluations of the same formula (cube roots by
    # different means): they agree to float32 rounding of values <= 100.
    diff = (ours - ref).abs().amax(dim=(0, 2, 3))
    assert diff.max() < 1e-4, diff
    assert torch.isfinite(ours).all()


@pytest.mark.parametrize('shape', [(3, 1, 1), (2, 3, 7, 5), (1, 2, 3, 33, 65),
                                   (3, 3, 100, 177), (0, 3, 4, 4), (2, 3, 0, 5)])
def test_shapes_orders_and_threads(shape, monkeypatch):
    g = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    for order in ('rgb', 'bgr'):
        ref = torch_path(rgb, monkeypatch, channel_order=order)
        threads = torch.get_num_threads()
        try:
            results = []
            for n in (1, 2, 3):  # split over 1, 2, 3 Python threads
                torch.set_num_threads(n)
                results.append(rgb8_to_lab(rgb, channel_order=order))
        finally:
            torch.set_num_threads(threads)
        for out in results:
            assert out.shape == rgb.shape
            torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)
        # The split does not change a single value.
        assert all(torch.equal(out, results[0]) for out in results)


def test_non_contiguous_input(monkeypatch):
    g = torch.Generator().manual_seed(1)
    nhwc = torch.randint(0, 256, (2, 9, 11, 3), dtype=torch.uint8, generator=g)
    rgb = nhwc.permute(0, 3, 1, 2)  # a view, channels-last memory
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    torch.testing.assert_close(rgb8_to_lab(rgb),
                               torch_path(rgb.contiguous(), monkeypatch),
                               atol=1e-4, rtol=0)


def _convert_in_child(rgb, queue):
    torch.set_num_threads(2)
    # numpy, pickled by value (a tensor would travel as a shared-memory
    # handle that dies with this process)
    queue.put(rgb8_to_lab(rgb).numpy())


def test_forked_child_gets_its_own_threads(monkeypatch):
    # The parent's thread pool exists before the fork; the child must not
    # wait on the parent's (absent) worker threads.
    import multiprocessing as mp
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    rgb = torch.randint(0, 256, (2, 3, 128, 256), dtype=torch.uint8,
                        generator=torch.Generator().manual_seed(2))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parent = rgb8_to_lab(rgb)  # creates the pool
    finally:
        torch.set_num_threads(threads)
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    child = ctx.Process(target=_convert_in_child, args=(rgb, queue))
    child.start()
    try:
        out = queue.get(timeout=60)
        child.join(timeout=60)
    finally:
        if child.is_alive():  # hung: the failure is the queue timeout
            child.kill()
    assert child.exitcode == 0
    assert torch.equal(torch.from_numpy(out), parent)


def test_slp_vectorizer_switch_is_scoped():
    from numba.core import config
    saved = config.SLP_VECTORIZE
    with cpu_kernels.slp_vectorizer():
        assert config.SLP_VECTORIZE == 1
    assert config.SLP_VECTORIZE == saved
    with pytest.raises(RuntimeError):
        with cpu_kernels.slp_vectorizer():
            raise RuntimeError('restored even on errors')
    assert config.SLP_VECTORIZE == saved


def test_stack_array_is_a_private_scratch():
    import numba

    @numba.njit
    def running_sums(x):
        # A 4-item scratch on the stack, rewritten for every row.
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            acc = cpu_kernels.stack_array(4, np.float64)
            for j in range(4):
                acc[j] = x[i, j] * 2.0
            total = 0.0
            for j in range(4):
                total += acc[j]
                out[i, j] = total
        return out

    x = np.random.default_rng(0).normal(size=(50, 4))
    np.testing.assert_allclose(running_sums(x), np.cumsum(2 * x, axis=1))
    with pytest.raises(Exception):  # the size must be a compile-time constant
        numba.njit(lambda n: cpu_kernels.stack_array(n, np.float64))(4)
