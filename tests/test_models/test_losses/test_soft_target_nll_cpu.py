"""The numba kernel of soft_target_nll against the torch path and numpy."""
import numpy as np
import pytest
import torch

from colorssl.models.losses import multinomial_color_loss, soft_target_nll
from colorssl.models.losses import soft_target_nll_cpu

pytest.importorskip('numba')


def float32_inputs(n=3, q=313, k=5, h=6, w=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, q, h, w, generator=g)
    idx = torch.stack([torch.randperm(q, generator=g)[:k]
                       for _ in range(n * h * w)])
    # The encoder's layout: (N, H, W, K) memory seen as (N, K, H, W).
    idx = idx.view(n, h, w, k).permute(0, 3, 1, 2)
    weight = torch.rand(n, k, h, w, generator=g)
    weight = weight / weight.sum(1, keepdim=True)
    pixel_weight = torch.rand(n, h, w, generator=g) + 0.5
    return logits, idx, weight, pixel_weight


def numpy_loss(log_prob, idx, weight, pixel_weight, mask):
    """float64 loss from (N, H, W, Q) log-probabilities."""
    lp = log_prob.detach().double().numpy()
    idx = idx.permute(0, 2, 3, 1).numpy()
    w = weight.permute(0, 2, 3, 1).double().numpy()
    picked = np.take_along_axis(lp, idx, axis=-1)
    per_pixel = -(picked * w).sum(-1)
    if pixel_weight is not None:
        per_pixel = per_pixel * pixel_weight.double().numpy()
    n, h, wd = per_pixel.shape
    if mask is None:
        return per_pixel.mean()
    m = mask.numpy().astype(np.float64)
    return (per_pixel * m[:, None, None]).sum() / max(m.sum() * h * wd, 1)


def loss_and_grad(logits, layout, idx, weight, pixel_weight, mask, switch,
                  monkeypatch):
    monkeypatch.setenv('COLORSSL_NUMBA', switch)
    x = logits.clone().requires_grad_(True)
    if layout == 'nchw':  # bins-last view of NCHW memory
        log_prob = torch.log_softmax(x, 1).permute(0, 2, 3, 1)
    elif layout == 'channels_last':
        log_prob = torch.log_softmax(x.permute(0, 2, 3, 1).contiguous(), -1)
    else:  # neither: W and H swapped in memory
        log_prob = torch.log_softmax(x.transpose(2, 3).contiguous(),
                                     1).permute(0, 3, 2, 1)
    loss = soft_target_nll(log_prob, idx, weight, pixel_weight, mask)
    loss.backward()
    return loss.detach(), x.grad, log_prob, type(loss.grad_fn).__name__


@pytest.mark.parametrize('layout', ['nchw', 'channels_last', 'other'])
@pytest.mark.parametrize('with_pw', [True, False])
@pytest.mark.parametrize('mask', [None, [True, False, True],
                                  [False, False, False]])
def test_kernel_matches_torch_path(layout, with_pw, mask, monkeypatch):
    logits, idx, weight, pw = float32_inputs(seed=len(layout))
    pw = pw if with_pw else None
    mask = None if mask is None else torch.tensor(mask)
    ours = loss_and_grad(logits, layout, idx, weight, pw, mask, '1',
                         monkeypatch)
    ref = loss_and_grad(logits, layout, idx, weight, pw, mask, '0',
                        monkeypatch)
    assert ours[3] == '_SoftTargetNLLBackward'
    assert ref[3] != '_SoftTargetNLLBackward'
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-5, atol=1e-9)
    expected = numpy_loss(ours[2], idx, weight, pw, mask)
    assert ours[0].item() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    if mask is not None and not mask.any():
        assert ours[0].item() == 0 and torch.count_nonzero(ours[1]) == 0


def test_gradient_keeps_the_layout_of_log_prob(monkeypatch):
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    logits, idx, weight, pw = float32_inputs()
    log_prob = torch.log_softmax(logits, 1).permute(0, 2, 3, 1)
    log_prob.requires_grad_(True)
    soft_target_nll(log_prob, idx, weight, pw).backward()
    assert log_prob.grad.stride() == log_prob.stride()
    # Nonzero exactly at the K target bins of every pixel.
    nonzero = (log_prob.grad != 0).sum(-1)
    assert (nonzero == idx.shape[1]).all()


def test_threads_give_the_same_result(monkeypatch):
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    logits, idx, weight, pw = float32_inputs(n=5, h=40, w=9)
    old = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(loss_and_grad(logits, 'nchw', idx, weight, pw,
                                         None, '1', monkeypatch)[:2])
    finally:
        torch.set_num_threads(old)
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-6,
                               atol=0)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=0, atol=0)


def test_inputs_the_kernel_leaves_to_torch(monkeypatch):
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    logits, idx, weight, pw = float32_inputs()
    lp = torch.log_softmax(logits, 1).permute(0, 2, 3, 1)
    assert soft_target_nll_cpu.usable(lp, idx, weight, pw)
    assert soft_target_nll_cpu.usable(lp, idx, weight, None)
    assert not soft_target_nll_cpu.usable(lp.double(), idx, weight, pw)
    assert not soft_target_nll_cpu.usable(lp, idx.int(), weight, pw)
    assert not soft_target_nll_cpu.usable(lp, idx, weight.double(), pw)
    assert not soft_target_nll_cpu.usable(
        lp, idx, weight.clone().requires_grad_(True), pw)
    monkeypatch.setenv('COLORSSL_NUMBA', '0')
    assert not soft_target_nll_cpu.usable(lp, idx, weight, pw)


def test_multinomial_color_loss_uses_the_kernel(monkeypatch):
    # The head's call: float32 targets, pixel weights and a sample mask.
    logits, idx, weight, pw = float32_inputs(seed=3)
    mask = torch.tensor([True, True, False])
    out = {}
    for switch in ('1', '0'):
        monkeypatch.setenv('COLORSSL_NUMBA', switch)
        x = logits.clone().requires_grad_(True)
        loss = multinomial_color_loss(x, idx, weight, pw, mask)
        loss.backward()
        out[switch] = (loss.detach(), x.grad, loss.grad_fn)
    assert type(out['1'][2]).__name__ == '_SoftTargetNLLBackward'
    torch.testing.assert_close(out['1'][0], out['0'][0])
    torch.testing.assert_close(out['1'][1], out['0'][1], rtol=1e-5,
                               atol=1e-9)
