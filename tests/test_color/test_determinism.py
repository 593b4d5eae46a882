"""The colour functions give the same bits for 1 and 2 CPU threads.

Why they are deterministic (see :mod:`colorssl.color.pieces`): on CPU torch
runs an element-wise op in one thread below 32768 elements and splits it over
threads above; exactly rounded maths (``+ - * /``, comparisons, ``where``,
indexing, integer ops) gives the same bits either way, so only the
transcendental functions (``pow``, ``exp``) and the sums over bins, whose
vectorised and scalar paths may round differently, are computed on fixed
pieces below that size. The soft encoder ranks bins by exact integer keys
(distance bits, then bin index), so ``topk`` has a single answer. The colour
matrices are sums of products, not a matmul (whose BLAS kernels may depend
on the thread count). The loss sums over pixels in an order that depends on
the thread count; it is accumulated in float64 and agrees to float32
rounding.

Checked on this project's CPU (AVX2, torch 2.14): ``pow`` and ``exp2`` differ
in the last bit between the vectorised and the scalar path; with the pieces
turned off (a huge ``GRAIN``), the Lab conversion and the encoder's weights
of the odd-sized camvid crops below differ between 1 and 2 threads.
"""
import pytest
import torch
import torch.nn.functional as F

from colorssl.color import (SoftEncoder, annealed_mean, lab_to_rgb, load_ab_bins,
                            rgb8_to_lab, rgb_to_lab)
from colorssl.models.losses import MultinomialColorLoss

BINS = load_ab_bins()


@pytest.fixture
def restore_threads():
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


def colour_outputs(images: torch.Tensor, ab: torch.Tensor,
                   logits: torch.Tensor) -> dict:
    """Every colour function on real photos (``images``, uint8), their ab at
    1/4 resolution (``ab``) and logits at that size."""
    out = dict(
        rgb8_to_lab=rgb8_to_lab(images),
        rgb8_to_lab_64=rgb8_to_lab(images, dtype=torch.float64),
        bgr8_to_lab=rgb8_to_lab(images.flip(1), channel_order='bgr'),
        rgb_to_lab=rgb_to_lab(images.float() / 255),
        rgb_to_lab_64=rgb_to_lab(images.double() / 255))
    out['lab_to_rgb'] = lab_to_rgb(out['rgb8_to_lab'])
    rebalance = torch.linspace(0.5, 2.0, len(BINS))
    for k, name, x in ((5, 'full', out['rgb8_to_lab'][:, 1:]), (5, 'pooled', ab),
                       (10, 'pooled', ab)):
        enc = SoftEncoder(BINS, num_neighbors=k)
        idx, weight, pixel_weight = enc(x, bin_weight=rebalance)
        out.update({
            f'idx_{name}_{k}': idx,
            f'weight_{name}_{k}': weight,
            f'pixel_weight_{name}_{k}': pixel_weight,
            f'nearest_{name}_{k}': enc.nearest(x)
        })
    out['annealed_mean'] = annealed_mean(logits, BINS)
    out['annealed_mean_t1'] = annealed_mean(logits.double(), BINS, 1.0)
    return out


def head_loss(logits: torch.Tensor, ab: torch.Tensor):
    """Loss and logit gradient as the colorization head computes them."""
    idx, weight, pixel_weight = SoftEncoder(BINS)(
        ab, bin_weight=torch.linspace(0.5, 2.0, len(BINS)))
    x = logits.contiguous(memory_format=torch.channels_last).requires_grad_()
    mask = torch.ones(len(ab), dtype=torch.bool)
    mask[1] = False
    loss = MultinomialColorLoss()(x, idx, weight, pixel_weight, mask)
    loss.backward()
    return loss.detach(), x.grad


@pytest.mark.usefixtures('restore_threads')
def test_same_bits_for_one_and_two_threads(photos):
    torch.set_num_threads(1)
    inputs = {}
    for name, images in photos.items():
        lab = rgb8_to_lab(images)
        ab = F.adaptive_avg_pool2d(lab[:, 1:], [s // 4 for s in lab.shape[2:]])
        gen = torch.Generator().manual_seed(0)
        logits = torch.randn(len(ab), len(BINS), *ab.shape[2:], generator=gen) * 3
        inputs[name] = (images, ab, logits)
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        assert torch.get_num_threads() == threads
        results[threads] = {
            name: (colour_outputs(images, ab, logits), head_loss(logits, ab))
            for name, (images, ab, logits) in inputs.items()
        }
    for name in inputs:
        (one, loss1), (two, loss2) = results[1][name], results[2][name]
        for key in one:
            assert one[key].dtype == two[key].dtype
            assert torch.equal(one[key], two[key]), (name, key)
        torch.testing.assert_close(loss1[0], loss2[0], rtol=1e-6, atol=0)
        torch.testing.assert_close(loss1[1], loss2[1], rtol=1e-6, atol=1e-12)
