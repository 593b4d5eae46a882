"""numba kernels of :func:`soft_target_nll` on CPU, as one autograd Function.

The torch expression gathers the K log-probabilities of every pixel into a new
tensor, multiplies them by the target weights, sums over K, multiplies by the
pixel weights and takes the mean: five passes over memory. The forward kernel
makes one pass and accumulates the loss in float64; the backward kernel
scatters each pixel's K gradient entries into a zero tensor of the
log-probabilities' shape and strides, as torch's gather backward does.

Used for float32 log-probabilities on CPU when the target weights and pixel
weights need no gradient (they are targets) and numba is enabled
(``COLORSSL_NUMBA``, see ``colorssl/color/cpu_kernels.py``).
"""
from typing import Optional

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from colorssl.color import cpu_kernels
from colorssl.color.cpu_kernels import numba

if numba is not None:

    @cpu_kernels.jit_fast
    def _forward(lp, idx, w, pw, mask, start, end):
        """sum over pixels [start, end) (flat over N x HW) of
        ``-mask[n] pw[n, i] sum_k w[n, i, k] lp[n, i, idx[n, i, k]]``,
        float64.

        ``lp`` (N, HW, Q) float32, ``idx`` (N, HW, K) int64 and ``w``
        (N, HW, K) float32, any strides; ``pw`` (N, HW) and ``mask`` (N,)
        float32, or empty when absent."""
        hw = lp.shape[1]
        k = idx.shape[2]
        total = 0.0
        p = start
        while p < end:  # one image at a time: no branch per pixel
            n = p // hw
            i0 = p - n * hw
            i1 = min(hw, i0 + end - p)
            scale = np.float32(1.0)
            if mask.shape[0] > 0:
                scale = mask[n]
            part = 0.0  # float64: an image may have millions of pixels
            for i in range(i0, i1):
                acc = np.float32(0.0)
                for j in range(k):
                    acc += w[n, i, j] * lp[n, i, idx[n, i, j]]
                if pw.shape[0] > 0:
                    acc *= pw[n, i]
                part += np.float64(acc)
            total -= part * scale
            p += i1 - i0
        return total

    @cpu_kernels.jit_fast
    def _backward(grad, idx, w, pw, mask, g, start, end):
        """grad[n, i, idx[n, i, k]] += -g mask[n] pw[n, i] w[n, i, k] for
        pixels [start, end); shapes as in :func:`_forward`, ``grad`` like
        ``lp``."""
        hw = grad.shape[1]
        k = idx.shape[2]
        p = start
        while p < end:
            n = p // hw
            i0 = p - n * hw
            i1 = min(hw, i0 + end - p)
            scale = -g
            if mask.shape[0] > 0:
                scale *= mask[n]
            for i in range(i0, i1):
                s = scale
                if pw.shape[0] > 0:
                    s *= pw[n, i]
                for j in range(k):
                    grad[n, i, idx[n, i, j]] += s * w[n, i, j]
            p += i1 - i0


def _merged(x: torch.Tensor) -> Optional[torch.Tensor]:
    """(N, H, W, ...) -> (N, H*W, ...) view, or None where the memory
    layout does not allow one (no copy is made)."""
    try:
        return x.view(x.shape[0], x.shape[1] * x.shape[2], *x.shape[3:])
    except RuntimeError:
        return None


def applies(log_prob: torch.Tensor, target_idx: torch.Tensor,
            target_weight: torch.Tensor,
            pixel_weight: Optional[torch.Tensor]) -> bool:
    """Whether :func:`soft_target_nll_cpu` serves these inputs."""
    return (cpu_kernels.enabled() and log_prob.device.type == 'cpu'
            and log_prob.dtype == torch.float32 and log_prob.numel() > 0
            and target_idx.dtype == torch.int64
            and target_weight.dtype == torch.float32
            and not target_weight.requires_grad
            and (pixel_weight is None or (
                pixel_weight.dtype == torch.float32
                and not pixel_weight.requires_grad))
            and all(_merged(x) is not None for x in (
                log_prob, target_idx.permute(0, 2, 3, 1),
                target_weight.permute(0, 2, 3, 1))))


def _arrays(target_idx, target_weight, pixel_weight, sample_mask):
    """numpy views (no copies) in the kernels' layouts."""
    n = target_idx.shape[0]
    return (_merged(target_idx.permute(0, 2, 3, 1)).numpy(),
            _merged(target_weight.permute(0, 2, 3, 1)).numpy(),
            np.empty((0, 0), np.float32) if pixel_weight is None else
            pixel_weight.reshape(n, -1).numpy(),
            np.empty(0, np.float32) if sample_mask is None else
            sample_mask.to(torch.float32).numpy())


class _SoftTargetNLL(torch.autograd.Function):

    @staticmethod
    def forward(ctx, log_prob, target_idx, target_weight, pixel_weight,
                sample_mask, denom):
        idx, w, pw, mask = _arrays(target_idx, target_weight, pixel_weight,
                                   sample_mask)
        lp = _merged(log_prob.detach()).numpy()
        total = sum(cpu_kernels.run_split(
            lambda s, e: _forward(lp, idx, w, pw, mask, s, e),
            lp.shape[0] * lp.shape[1]))
        ctx.save_for_backward(log_prob, target_idx, target_weight,
                              pixel_weight, sample_mask)
        ctx.denom = denom
        return log_prob.new_tensor(total / denom)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        log_prob, target_idx, target_weight, pixel_weight, sample_mask = (
            ctx.saved_tensors)
        idx, w, pw, mask = _arrays(target_idx, target_weight, pixel_weight,
                                   sample_mask)
        grad = torch.zeros_like(log_prob)  # same strides as log_prob
        g = np.float32(grad_output.item() / ctx.denom)
        out = _merged(grad).numpy()
        cpu_kernels.run_split(
            lambda s, e: _backward(out, idx, w, pw, mask, g, s, e),
            out.shape[0] * out.shape[1])
        return grad, None, None, None, None, None


def soft_target_nll_cpu(log_prob: torch.Tensor, target_idx: torch.Tensor,
                        target_weight: torch.Tensor,
                        pixel_weight: Optional[torch.Tensor],
                        sample_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """:func:`soft_target_nll` by the kernels (see :func:`applies`); same
    arguments and result."""
    n, h, w, _ = log_prob.shape
    if sample_mask is None:
        denom = n * h * w
    else:
        denom = max(int(sample_mask.sum()) * h * w, 1)
    return _SoftTargetNLL.apply(log_prob, target_idx, target_weight,
                                pixel_weight, sample_mask, denom)
