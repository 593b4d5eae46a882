import numpy as np
import pytest
import torch

from colorssl.models.losses import (MultinomialColorLoss, multinomial_color_loss,
                                    soft_target_nll)


def numpy_reference(logits, idx, weight, pixel_weight, mask):
    """Dense soft target Z (N, Q, H, W), Eq. 2 of the paper, mean over kept pixels."""
    n, q, h, w = logits.shape
    target = np.zeros_like(logits)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                for k in range(idx.shape[1]):
                    target[i, idx[i, k, y, x], y, x] += weight[i, k, y, x]
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    per_pixel = -(target * log_p).sum(1) * pixel_weight * mask[:, None, None]
    return per_pixel.sum() / (mask.sum() * h * w)


def random_inputs(n=3, q=7, k=3, h=4, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, q, h, w, generator=g, dtype=torch.float64)
    idx = torch.stack([torch.randperm(q, generator=g)[:k] for _ in range(n * h * w)])
    idx = idx.view(n, h, w, k).permute(0, 3, 1, 2).contiguous()
    weight = torch.rand(n, k, h, w, generator=g, dtype=torch.float64)
    weight = weight / weight.sum(1, keepdim=True)
    pixel_weight = torch.rand(n, h, w, generator=g, dtype=torch.float64) + 0.5
    return logits, idx, weight, pixel_weight


def test_matches_dense_numpy_reference():
    logits, idx, weight, pixel_weight = random_inputs()
    mask = torch.tensor([True, False, True])
    got = multinomial_color_loss(logits, idx, weight, pixel_weight, mask)
    ref = numpy_reference(logits.numpy(), idx.numpy(), weight.numpy(),
                          pixel_weight.numpy(), mask.numpy().astype(float))
    assert got.item() == pytest.approx(ref, rel=1e-5)


def test_soft_target_nll_on_log_probs_in_either_layout():
    logits, idx, weight, pixel_weight = random_inputs(seed=4)
    mask = torch.tensor([True, True, False])
    ref = numpy_reference(logits.numpy(), idx.numpy(), weight.numpy(),
                          pixel_weight.numpy(), mask.numpy().astype(float))
    log_prob = torch.log_softmax(logits, dim=1)
    nchw_view = log_prob.permute(0, 2, 3, 1)  # bins last, NCHW memory
    channels_last = nchw_view.contiguous()
    for lp in (nchw_view, channels_last):
        got = soft_target_nll(lp, idx, weight, pixel_weight, mask)
        assert got.item() == pytest.approx(ref, rel=1e-6)


def test_memory_layouts_give_the_same_loss_and_gradient():
    # ColorizationHead hands channels-last logits; SoftEncoder returns targets
    # as permuted views. Neither layout may change the result.
    logits, idx, weight, pixel_weight = random_inputs(seed=2)
    mask = torch.tensor([True, True, False])
    results = []
    for channels_last in (False, True):
        x = logits.clone()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
            t_idx = idx.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
            t_w = weight.permute(1, 0, 2, 3).contiguous().transpose(0, 1)
        else:
            t_idx, t_w = idx, weight
        x.requires_grad_(True)
        loss = multinomial_color_loss(x, t_idx, t_w, pixel_weight, mask)
        loss.backward()
        results.append((loss.detach(), x.grad.contiguous()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    ref = numpy_reference(logits.numpy(), idx.numpy(), weight.numpy(),
                          pixel_weight.numpy(), mask.numpy().astype(float))
    assert results[1][0].item() == pytest.approx(ref, rel=1e-5)


def test_unweighted_unmasked_is_plain_mean():
    logits, idx, weight, _ = random_inputs(seed=1)
    ones = torch.ones(logits.shape[0], *logits.shape[2:], dtype=torch.float64)
    mask = torch.ones(logits.shape[0], dtype=torch.bool)
    ref = numpy_reference(logits.numpy(), idx.numpy(), weight.numpy(), ones.numpy(),
                          mask.numpy().astype(float))
    assert multinomial_color_loss(logits, idx, weight).item() == pytest.approx(ref,
                                                                              rel=1e-5)


def test_all_masked_gives_zero_with_gradient():
    logits, idx, weight, pw = random_inputs()
    logits.requires_grad_(True)
    loss = MultinomialColorLoss(loss_weight=2.)(logits, idx, weight, pw,
                                                torch.zeros(3, dtype=torch.bool))
    assert loss.item() == 0
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_loss_weight_scales():
    logits, idx, weight, pw = random_inputs()
    one = MultinomialColorLoss(1.)(logits, idx, weight, pw)
    three = MultinomialColorLoss(3.)(logits, idx, weight, pw)
    assert three.item() == pytest.approx(3 * one.item())


def test_shape_mismatch_is_explained():
    logits, idx, weight, _ = random_inputs()
    with pytest.raises(ValueError, match='does not match'):
        multinomial_color_loss(logits[:, :, :2], idx, weight)


@pytest.mark.parametrize('layout', ['nchw_view', 'channels_last'])
@pytest.mark.parametrize('weighted,masked', [(True, True), (False, False),
                                             (True, False), (False, True)])
def test_cpu_kernel_matches_torch_path(layout, weighted, masked, monkeypatch):
    # float32 on CPU takes the numba kernels (soft_target_nll_cpu.py) when
    # numba is there; the loss and its gradient must be the torch path's.
    pytest.importorskip('numba')
    from colorssl.models.losses import soft_target_nll_cpu
    logits, idx, weight, pixel_weight = random_inputs(n=4, q=11, k=4, h=6,
                                                      w=7, seed=5)
    weight, pixel_weight = weight.float(), pixel_weight.float()
    pixel_weight = pixel_weight if weighted else None
    mask = torch.tensor([True, False, True, True]) if masked else None
    log_prob = torch.log_softmax(logits.float(), 1).permute(0, 2, 3, 1)
    if layout == 'channels_last':
        log_prob = log_prob.contiguous()
    results = {}
    for switch in ('1', '0'):
        monkeypatch.setenv('COLORSSL_NUMBA', switch)
        assert soft_target_nll_cpu.applies(log_prob, idx, weight,
                                           pixel_weight) == (switch == '1')
        lp = log_prob.detach().requires_grad_(True)
        loss = soft_target_nll(lp, idx, weight, pixel_weight, mask)
        (2.5 * loss).backward()
        results[switch] = loss.detach(), lp.grad
    torch.testing.assert_close(results['1'][0], results['0'][0])
    torch.testing.assert_close(results['1'][1], results['0'][1])
    assert results['1'][1].stride() == log_prob.stride()
    mask_np = np.ones(4) if mask is None else mask.numpy().astype(float)
    pw_np = np.ones((4, 6, 7)) if pixel_weight is None else \
        pixel_weight.double().numpy()
    ref = numpy_reference(logits.float().double().numpy(), idx.numpy(),
                          weight.double().numpy(), pw_np, mask_np)
    assert results['1'][0].item() == pytest.approx(ref, rel=1e-5)


def test_cpu_kernel_is_skipped_where_it_does_not_apply(monkeypatch):
    pytest.importorskip('numba')
    from colorssl.models.losses import soft_target_nll_cpu
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    logits, idx, weight, pixel_weight = random_inputs(seed=6)
    lp = torch.log_softmax(logits.float(), 1).permute(0, 2, 3, 1)
    weight, pixel_weight = weight.float(), pixel_weight.float()
    assert soft_target_nll_cpu.applies(lp, idx, weight, pixel_weight)
    # float64 log-probs, target weights that want a gradient, H and W that
    # cannot be merged without a copy: the torch path runs.
    assert not soft_target_nll_cpu.applies(lp.double(), idx, weight, None)
    w_grad = weight.clone().requires_grad_(True)
    assert not soft_target_nll_cpu.applies(lp, idx, w_grad, None)
    assert not soft_target_nll_cpu.applies(lp.transpose(1, 2), idx, weight,
                                           None)
    loss = soft_target_nll(lp, idx, w_grad, pixel_weight)
    loss.backward()
    assert w_grad.grad is not None and w_grad.grad.abs().sum() > 0


def test_cpu_kernel_split_over_threads(monkeypatch):
    # Enough pixels for cpu_kernels.run_split to use two threads: the same
    # loss (float64 partial sums) and exactly the same gradient.
    pytest.importorskip('numba')
    monkeypatch.setenv('COLORSSL_NUMBA', '1')
    g = torch.Generator().manual_seed(7)
    n, q, k, h, w = 2, 9, 3, 160, 128  # 40960 pixels
    log_prob = torch.log_softmax(torch.randn(n, h, w, q, generator=g), -1)
    idx = torch.rand(n * h * w, q, generator=g).argsort(1)[:, :k]
    idx = idx.view(n, h, w, k).permute(0, 3, 1, 2)
    weight = torch.rand(n, k, h, w, generator=g)
    weight = weight / weight.sum(1, keepdim=True)
    pixel_weight = torch.rand(n, h, w, generator=g) + 0.5
    results = []
    threads = torch.get_num_threads()
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            lp = log_prob.clone().requires_grad_(True)
            loss = soft_target_nll(lp, idx, weight, pixel_weight)
            loss.backward()
            results.append((loss.detach(), lp.grad))
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
    monkeypatch.setenv('COLORSSL_NUMBA', '0')
    torch.testing.assert_close(
        soft_target_nll(log_prob, idx, weight, pixel_weight), results[0][0])
