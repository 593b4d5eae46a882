"""Soft-encoding (+ rebalanced loss) speed against the original's method.

    PYTHONPATH=. python benchmarks/bench_soft_encode.py [--batch 32] [--size 56]
        [--num-neighbors 5 10] [--repeats 15] [--threads N] [--data DIR]

The ab targets are a batch of real images (``--data``, default the
cifar10-mini training split, resized to ``--size``) or, when that folder is
absent, random sRGB colours (in gamut by construction).

Two comparisons, both timed in this run, median of ``--repeats`` interleaved
runs, on CPU, as wall-clock time and as CPU time of the process (all its
threads: the work done, whatever the parallelism). Both sides get the same
number of threads, by default all of torch's (the machine's cores):
``--threads`` threads for torch and colorssl's kernels, as many jobs for
sklearn's ``kneighbors`` (``--threads 1``: one core each):

1. encode: :class:`colorssl.color.SoftEncoder` against the original training
   layer's method: ``sklearn.neighbors.NearestNeighbors(algorithm='ball_tree')
   .kneighbors`` (tree built once, outside the timing) + numpy Gaussian
   weights. Same output: K bin indices and weights per pixel.
2. training layer: soft targets + class-rebalanced multinomial cross-entropy
   given the network's log-probabilities (their ``log_softmax`` is computed
   once, outside the timing, as it is shared by both). The reference does what
   the released layers did in numpy: dense (P, Q) soft targets, per-pixel
   weight = prior factor of the target's arg-max, weighted loss over the dense
   targets. Ours is the code ColorizationHead.loss runs after its log_softmax
   (``ColorizationHead.encode_targets`` + ``soft_target_nll``): sparse
   targets, the nearest bin's factor, a gather of K log-probabilities per
   pixel. Timed twice: on the NCHW log-probabilities both sides get (read
   through a bins-last view), and on a channels-last copy, the memory layout
   of ColorizationHead's logits (there the gather reads a new 1.25 KB row per
   pixel instead of sharing cache lines between neighbouring pixels, and is
   bound by memory; the step benchmark of bench_colorization.py shows what
   the layout buys overall).

``SoftEncoder`` runs its fused numba kernel on CPU when numba is installed
(``colorssl/color/soft_encode_cpu.py``) and ``soft_target_nll`` its
forward/backward kernels (``colorssl/models/losses/soft_target_nll_cpu.py``);
``COLORSSL_NUMBA=0`` measures the pure-torch paths instead.

Both comparisons also check that the two sides agree numerically.
"""
import argparse
import glob
import os.path as osp
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import colorssl  # noqa: F401  (registers ColorizationHead)
from colorssl.color import cpu_kernels, load_ab_bins, rgb_to_lab
from colorssl.models.losses import soft_target_nll
from colorssl.utils.malloc_tuning import tune_malloc

DEFAULT_DATA = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), '..', 'shared', 'data',
    'cifar10-mini', 'train')


def load_ab(data: str, batch: int, size: int, seed: int):
    """(batch, 2, size, size) float32 ab targets and a description."""
    files = sorted(glob.glob(osp.join(data, '**', '*.jpg'), recursive=True) +
                   glob.glob(osp.join(data, '**', '*.png'), recursive=True))
    rng = np.random.default_rng(seed)
    if len(files) >= batch:
        from PIL import Image
        pick = rng.choice(len(files), batch, replace=False)
        imgs = []
        for i in pick:
            with Image.open(files[i]) as img:
                imgs.append(np.asarray(img.convert('RGB'), dtype=np.float32))
        rgb = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2) / 255.0
        rgb = F.interpolate(rgb, size=(size, size), mode='bilinear',
                            align_corners=False).clamp(0, 1)
        source = f'{batch} images from {osp.normpath(data)}'
    else:
        rgb = torch.from_numpy(
            rng.uniform(0, 1, (batch, 3, size, size)).astype(np.float32))
        source = f'random sRGB colours ({osp.normpath(data)} not found)'
    return rgb_to_lab(rgb)[:, 1:].contiguous(), source


class Reference:
    """The original training layers' computation, in numpy + sklearn."""

    def __init__(self, bins: np.ndarray, k: int, sigma: float,
                 factor: np.ndarray, n_jobs: int = 1):
        from sklearn.neighbors import NearestNeighbors
        self.nn = NearestNeighbors(n_neighbors=k, algorithm='ball_tree',
                                   n_jobs=n_jobs).fit(bins)
        self.k = k
        self.sigma = sigma
        self.q = len(bins)
        self.factor = factor

    def encode(self, ab: np.ndarray):
        """ab (N, 2, H, W) -> idx, weights, each (P, K), P = N*H*W."""
        pts = ab.transpose(0, 2, 3, 1).reshape(-1, 2)
        dist, idx = self.nn.kneighbors(pts, self.k)
        w = np.exp(-dist**2 / (2 * self.sigma**2))
        w /= w.sum(axis=1, keepdims=True)
        return idx, w

    def loss(self, ab: np.ndarray, logp: np.ndarray) -> float:
        """Dense soft targets, rebalancing by arg-max, weighted CE."""
        n, _, h, w = ab.shape
        idx, wts = self.encode(ab)
        p = idx.shape[0]
        target = np.zeros((p, self.q), dtype=np.float64)
        target[np.arange(p)[:, None], idx] = wts
        target = target.reshape(n, h, w, self.q).transpose(0, 3, 1, 2)
        pixel_w = self.factor[np.argmax(target, axis=1)]  # (N, H, W)
        ce = -(target * logp).sum(axis=1)
        return float((pixel_w * ce).mean())


def ours_loss(head, ab: torch.Tensor, log_prob: torch.Tensor) -> torch.Tensor:
    """What ColorizationHead.loss does after its log_softmax: soft targets
    and pixel weights (``encode_targets``), then the weighted NLL, which
    gathers K log-probabilities per pixel (``log_prob``: (N, H, W, Q), any
    memory layout)."""
    idx, wts, pixel_w = head.encode_targets(ab)
    return soft_target_nll(log_prob, idx, wts, pixel_w)


def median_times(fns: dict, repeats: int):
    """Median wall-clock and CPU (process) seconds of each function,
    runs interleaved so that both sides see the same machine load."""
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for name, fn in fns.items():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
    med = statistics.median
    return ({n: med(t) for n, t in wall.items()},
            {n: med(t) for n, t in cpu.items()})


def main():
    tune_malloc()  # as tools/train.py does; COLORSSL_MALLOC_TUNING=0 skips
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--size', type=int, default=56)
    parser.add_argument('--num-neighbors', type=int, nargs='+', default=[5, 10])
    parser.add_argument('--sigma', type=float, default=5.0)
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--threads', type=int,
                        default=torch.get_num_threads(),
                        help='torch intra-op threads; the reference\'s '
                        'kneighbors gets as many jobs (n_jobs)')
    parser.add_argument('--data', default=DEFAULT_DATA)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    bins = load_ab_bins()
    ab, source = load_ab(args.data, args.batch, args.size, args.seed)
    g = torch.Generator().manual_seed(args.seed)
    logp = torch.log_softmax(
        torch.randn((args.batch, len(bins), args.size, args.size),
                    generator=g), dim=1)
    ab_np = ab.double().numpy()
    logp_np = logp.double().numpy()
    # Ours takes them bins-last: a permuted view of the NCHW tensor (no copy),
    # and the channels-last memory that ColorizationHead's logits have.
    logp_views = dict(
        nchw=logp.permute(0, 2, 3, 1),
        channels_last=logp.permute(0, 2, 3, 1).contiguous())
    print(f'ab targets: {tuple(ab.shape)}, {source}; torch threads: '
          f'{torch.get_num_threads()}, sklearn n_jobs: {args.threads}; '
          f'numba kernels: {cpu_kernels.enabled()}; median of '
          f'{args.repeats} runs')

    for k in args.num_neighbors:
        head = MODELS.build(dict(type='ColorizationHead', in_channels=1,
                                 num_neighbors=k, sigma=args.sigma))
        enc = head.encoder
        ref = Reference(bins.double().numpy(), k, args.sigma,
                        head.class_weights.double().numpy(),
                        n_jobs=args.threads)

        # Agreement: same bins (as sets) and weights, same loss.
        idx, wts = enc(ab)
        idx = idx.permute(0, 2, 3, 1).reshape(-1, k).numpy()
        wts = wts.permute(0, 2, 3, 1).reshape(-1, k).double().numpy()
        ref_idx, ref_w = ref.encode(ab_np)
        dense = np.zeros((len(idx), len(bins)))
        np.put_along_axis(dense, idx, wts, axis=1)
        ref_dense = np.zeros_like(dense)
        np.put_along_axis(ref_dense, ref_idx, ref_w, axis=1)
        max_diff = np.abs(dense - ref_dense).max()
        same_sets = (np.sort(idx, 1) == np.sort(ref_idx, 1)).all(1).mean()
        loss_ours = {name: float(ours_loss(head, ab, lp))
                     for name, lp in logp_views.items()}
        loss_ref = ref.loss(ab_np, logp_np)

        fns = dict(ref_encode=lambda: ref.encode(ab_np),
                   ours_encode=lambda: enc(ab),
                   ref_layer=lambda: ref.loss(ab_np, logp_np))
        for name, lp in logp_views.items():
            fns[f'ours_layer_{name}'] = (
                lambda lp=lp: ours_loss(head, ab, lp))
        wall, cpu = median_times(fns, args.repeats)
        print(f'\nK = {k}: {ab.shape[0] * ab.shape[2] * ab.shape[3]} pixels')
        print(f'  agreement: same K-bin set for {100 * same_sets:.3f}% of '
              f'pixels, max |dense target diff| {max_diff:.2e}, loss '
              f'{loss_ours["nchw"]:.6f} (NCHW), '
              f'{loss_ours["channels_last"]:.6f} (channels-last) vs '
              f'{loss_ref:.6f}')
        rows = [('encode', 'sklearn ball_tree + numpy', 'SoftEncoder',
                 'ref_encode', 'ours_encode')]
        for name in logp_views:
            rows.append((f'layer {name}', 'original (numpy, dense)',
                         'colorssl', 'ref_layer', f'ours_layer_{name}'))
        for what, ref_name, ours_name, ref_key, ours_key in rows:
            for clock, t in (('wall', wall), ('cpu', cpu)):
                print(f'  {what:20s} {clock:4s}  {ref_name:25s} '
                      f'{1e3 * t[ref_key]:8.2f} ms | {ours_name:11s} '
                      f'{1e3 * t[ours_key]:7.2f} ms | ratio '
                      f'{t[ref_key] / t[ours_key]:6.1f}x')

if __name__ == '__main__':
    main()
