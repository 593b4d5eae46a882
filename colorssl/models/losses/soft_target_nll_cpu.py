"""Fused CPU kernel (numba) of :func:`soft_target_nll`, with its backward.

The torch path gathers K log-probabilities per pixel into a new tensor, then
multiplies, sums and weights in separate passes; its backward scatters into a
zero tensor. Here one pass per pixel computes

    S = sum_n f_n sum_p v_p sum_k w_pk log_prob[n, p, idx_pk]

(f: the sample mask, v: the pixel weights), the loss being ``-S / denom``;
the backward writes ``-f_n v_p w_pk / denom`` times the incoming gradient
into a zero tensor laid out as ``log_prob``. Both are split over
``torch.get_num_threads()`` threads (the kernels release the GIL), by pixel
rows for the forward (partial sums added in float64) and by samples for the
backward (no two threads write the same element).
"""
from typing import Optional

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from colorssl.color import cpu_kernels
from colorssl.color.cpu_kernels import numba

if numba is not None:

    @cpu_kernels.jit_fast
    def _forward_kernel(lp, idx, w, pw, has_pw, factor, start, end):
        """Sum over the image rows [start, end) (flat over N x H) of ``lp``
        (N, H, W, Q); ``idx``, ``w`` (N, K, H, W), ``pw`` (N, H, W) when
        ``has_pw``, ``factor`` (N,)."""
        h, width = lp.shape[1], lp.shape[2]
        k = idx.shape[1]
        total = 0.0
        for row in range(start, end):
            n = row // h
            y = row - n * h
            acc = np.float32(0.0)
            for x in range(width):
                s = np.float32(0.0)
                for j in range(k):
                    s += w[n, j, y, x] * lp[n, y, x, idx[n, j, y, x]]
                if has_pw:
                    s *= pw[n, y, x]
                acc += s
            total += factor[n] * np.float64(acc)
        return total

    @cpu_kernels.jit_fast
    def _backward_kernel(grad, idx, w, pw, has_pw, factor, scale, start,
                         end):
        """grad[n, y, x, idx[n, k, y, x]] = scale f_n v_nyx w[n, k, y, x]
        for samples [start, end); ``grad`` holds zeros elsewhere."""
        h, width = grad.shape[1], grad.shape[2]
        k = idx.shape[1]
        for n in range(start, end):
            fn = np.float32(scale * factor[n])
            if fn == 0:
                continue
            for y in range(h):
                for x in range(width):
                    c = fn * pw[n, y, x] if has_pw else fn
                    for j in range(k):
                        grad[n, y, x, idx[n, j, y, x]] += c * w[n, j, y, x]


class _SoftTargetNLL(torch.autograd.Function):

    @staticmethod
    def forward(ctx, log_prob, idx, weight, pixel_weight, factor, denom):
        n, h = log_prob.shape[:2]
        lp = log_prob.detach().numpy()
        has_pw = pixel_weight is not None
        arrays = (idx.numpy(), weight.detach().numpy(),
                  pixel_weight.detach().numpy() if has_pw else
                  np.zeros((0, 0, 0), np.float32), has_pw, factor.numpy())
        sums = cpu_kernels.run_split(
            lambda s, e: _forward_kernel(lp, *arrays, s, e), n * h,
            min_chunk=64)
        ctx.arrays = arrays
        ctx.owners = (idx, weight, pixel_weight, factor)  # keep views alive
        ctx.save_for_backward(log_prob)
        ctx.denom = denom
        return log_prob.new_tensor(-sum(sums) / denom)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        log_prob, = ctx.saved_tensors
        # zeros_like keeps log_prob's memory layout when it is dense.
        grad = torch.zeros_like(log_prob)
        g_np = grad.numpy()
        scale = -float(grad_out) / ctx.denom
        cpu_kernels.run_split(
            lambda s, e: _backward_kernel(g_np, *ctx.arrays, scale, s, e),
            grad.shape[0], min_chunk=1)
        return grad, None, None, None, None, None


def usable(log_prob: torch.Tensor, target_idx: torch.Tensor,
           target_weight: torch.Tensor,
           pixel_weight: Optional[torch.Tensor]) -> bool:
    """Whether the kernel serves these inputs: numba on, all on CPU,
    float32 log-probabilities (any strides), int64 indices, float32
    targets that need no gradient."""
    if not cpu_kernels.enabled() or log_prob.device.type != 'cpu':
        return False
    if log_prob.dtype != torch.float32 or target_idx.dtype != torch.int64:
        return False
    others = [target_idx, target_weight] + (
        [pixel_weight] if pixel_weight is not None else [])
    if any(t.device.type != 'cpu' for t in others):
        return False
    if target_weight.dtype != torch.float32 or target_weight.requires_grad:
        return False
    if pixel_weight is not None and (pixel_weight.dtype != torch.float32
                                     or pixel_weight.requires_grad):
        return False
    return True


def soft_target_nll_cpu(log_prob: torch.Tensor, target_idx: torch.Tensor,
                        target_weight: torch.Tensor,
                        pixel_weight: Optional[torch.Tensor],
                        sample_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Same arguments and result as :func:`soft_target_nll`; see
    :func:`usable` for the inputs it takes."""
    n, h, w, _ = log_prob.shape
    if sample_mask is None:
        factor = torch.ones(n, dtype=torch.float32)
        denom = float(n * h * w)
    else:
        factor = sample_mask.to(torch.float32).cpu()
        denom = float(max(int(sample_mask.sum()) * h * w, 1))
    return _SoftTargetNLL.apply(log_prob, target_idx, target_weight,
                                pixel_weight, factor, denom)
