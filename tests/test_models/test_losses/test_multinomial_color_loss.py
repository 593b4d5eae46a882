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


def masked(pixel_weight, mask):
    """The per-pixel loss weight the head passes: rebalancing times the mask."""
    return pixel_weight * mask[:, None, None]


def kept_pixels(logits, mask):
    return int(mask.sum()) * logits.shape[2] * logits.shape[3]


def reference(logits, idx, weight, pixel_weight, mask):
    return numpy_reference(logits.detach().double().numpy(), idx.numpy(),
                           weight.double().numpy(),
                           pixel_weight.double().numpy(),
                           mask.numpy().astype(float))


def test_matches_dense_numpy_reference():
    logits, idx, weight, pixel_weight = random_inputs()
    mask = torch.tensor([True, False, True])
    got = multinomial_color_loss(
        logits, (idx, weight),
        masked(pixel_weight, mask),
        avg_factor=kept_pixels(logits, mask))
    assert got.item() == pytest.approx(
        reference(logits, idx, weight, pixel_weight, mask), rel=1e-5)


def test_soft_target_nll_on_log_probs_in_either_layout():
    logits, idx, weight, _ = random_inputs(seed=4)
    ones = torch.ones(logits.shape[0], dtype=torch.bool)
    unit = torch.ones(logits.shape[0], *logits.shape[2:], dtype=torch.float64)
    ref = reference(logits, idx, weight, unit, ones) * unit.numel()
    nchw_view = torch.log_softmax(logits, dim=1).permute(0, 2, 3, 1)  # bins last
    for lp in (nchw_view, nchw_view.contiguous()):
        per_pixel = soft_target_nll(lp, idx, weight)
        assert per_pixel.shape == unit.shape
        assert per_pixel.sum().item() == pytest.approx(ref, rel=1e-10)


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
        loss = multinomial_color_loss(
            x, (t_idx, t_w),
            masked(pixel_weight, mask),
            avg_factor=kept_pixels(x, mask))
        loss.backward()
        results.append((loss.detach(), x.grad.contiguous()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    ref = reference(logits, idx, weight, pixel_weight, mask)
    assert results[1][0].item() == pytest.approx(ref, rel=1e-5)


def test_reductions():
    logits, idx, weight, pw = random_inputs(seed=1)
    ones = torch.ones(logits.shape[0], dtype=torch.bool)
    unit = torch.ones_like(pw)
    mean = reference(logits, idx, weight, unit, ones)
    # Unweighted 'mean' without avg_factor: the plain mean over pixels.
    assert multinomial_color_loss(logits, (idx, weight)).item() == pytest.approx(
        mean, rel=1e-5)
    loss = MultinomialColorLoss(reduction='sum')
    assert loss(logits, (idx, weight)).item() == pytest.approx(
        mean * pw.numel(), rel=1e-5)
    none = loss(logits, (idx, weight), pw, reduction_override='none')
    assert none.shape == pw.shape and none.dtype == torch.float32
    assert none.sum().item() == pytest.approx(
        reference(logits, idx, weight, pw, ones) * pw.numel(), rel=1e-5)
    with pytest.raises(ValueError, match='avg_factor'):
        loss(logits, (idx, weight), avg_factor=3.)


def test_all_masked_gives_zero_with_gradient():
    logits, idx, weight, pw = random_inputs()
    logits.requires_grad_(True)
    loss = MultinomialColorLoss(loss_weight=2.)(
        logits, (idx, weight),
        masked(pw, torch.zeros(3, dtype=torch.bool)),
        avg_factor=1.)
    assert loss.item() == 0
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_loss_weight_scales():
    logits, idx, weight, pw = random_inputs()
    one = MultinomialColorLoss(loss_weight=1.)(logits, (idx, weight), pw)
    three = MultinomialColorLoss(loss_weight=3.)(logits, (idx, weight), pw)
    assert three.item() == pytest.approx(3 * one.item())


def test_shape_mismatch_is_explained():
    logits, idx, weight, _ = random_inputs()
    with pytest.raises(ValueError, match='does not match'):
        multinomial_color_loss(logits[:, :, :2], (idx, weight))


def test_avg_factor_divides_the_weighted_sum():
    logits, idx, weight, pw = random_inputs()
    mask = torch.tensor([True, False, True])
    kept = kept_pixels(logits, mask)
    ref = reference(logits, idx, weight, pw, mask)
    for factor in (kept, float(kept), torch.tensor(kept)):
        same = multinomial_color_loss(
            logits, (idx, weight), masked(pw, mask), avg_factor=factor)
        assert same.item() == pytest.approx(ref, rel=1e-6)
    half = MultinomialColorLoss()(
        logits, (idx, weight), masked(pw, mask), avg_factor=torch.tensor(2.0 * kept))
    assert half.item() == pytest.approx(ref / 2, rel=1e-6)


def test_two_halves_with_a_global_avg_factor_equal_the_whole_batch():
    # What two processes at batch B compute with the all-reduced count of
    # kept pixels, summed (as gradients are averaged x world size), equals
    # one process at batch 2B.
    logits, idx, weight, pw = random_inputs(n=4, seed=3)
    mask = torch.tensor([True, False, True, True])
    logits.requires_grad_(True)
    total_kept = kept_pixels(logits, mask)
    whole = multinomial_color_loss(
        logits, (idx, weight), masked(pw, mask), avg_factor=total_kept)
    (grad_whole, ) = torch.autograd.grad(whole, logits)
    parts = [
        multinomial_color_loss(
            logits[s], (idx[s], weight[s]),
            masked(pw[s], mask[s]),
            avg_factor=total_kept) for s in (slice(0, 2), slice(2, 4))
    ]
    assert (parts[0] + parts[1]).item() == pytest.approx(whole.item(), rel=1e-6)
    (grad_parts, ) = torch.autograd.grad(parts[0] + parts[1], logits)
    torch.testing.assert_close(grad_parts, grad_whole)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_logits_are_computed_in_float32(dtype):
    logits, idx, weight, pw = random_inputs(seed=8)
    # Logits whose softmax puts tiny mass on some bins: log-probabilities
    # below the fp16 range.
    low = (logits * 8).to(dtype)
    loss = multinomial_color_loss(low, (idx, weight.float()), pw.float())
    assert loss.dtype == torch.float32
    ref = reference(low, idx, weight, pw, torch.ones(3, dtype=torch.bool))
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    low.requires_grad_(True)
    multinomial_color_loss(low, (idx, weight.float()), pw.float()).backward()
    assert low.grad.dtype == dtype and torch.isfinite(low.grad).all()


def test_gradient_matches_the_closed_form():
    # d loss / d logit_q = v (softmax_q - Z_q) / pixels, per pixel.
    logits, idx, weight, pw = random_inputs(seed=9)
    logits.requires_grad_(True)
    multinomial_color_loss(logits, (idx, weight), pw).backward()
    target = torch.zeros_like(logits).scatter_add_(1, idx, weight)
    ref = (torch.softmax(logits, 1) - target) * pw[:, None] / pw.numel()
    # (float32 log-softmax: float32 rounding)
    torch.testing.assert_close(logits.grad, ref.detach(), rtol=1e-5, atol=1e-8)
