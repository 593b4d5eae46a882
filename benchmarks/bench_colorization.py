"""Colorization speed, as ratios against references measured in the same run.

    python benchmarks/bench_colorization.py [--batch-size 32] [--size 176]
        [--config CONFIG | --plain-resnet --depth 50] [--repeats 5] [--skip-step]

1. Lab conversion in ColorizationDataPreprocessor (one batched call) vs. skimage's
   ``rgb2lab`` image by image on the same uint8 batch (target: >= 10x faster).
2. One colorization pretraining step (preprocessor + backbone + 313-bin head +
   soft-encoding + rebalanced loss + Adam) vs. one supervised classification step
   (mmpretrain ImageClassifier, same ResNet, same batch, LinearClsHead, 1000 classes,
   same optimizer) (target: <= 1.15x the time), timed in alternating rounds
   (median of ``--repeats``; the ratio of each round is printed too). The
   backbone is the one of ``--config`` (default: the shipped ResNet-50
   colorization config, dilated to output stride 8) with BN instead of
   SyncBN; the classifier takes it with ``in_channels=3``.
   ``--plain-resnet`` uses a stock stride-32 ResNet instead (the head then
   upsamples its logits 8x).
"""
import argparse
import os.path as osp
import statistics
import time

import numpy as np
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401
from colorssl.utils.malloc_tuning import tune_malloc


def timed(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_lab(images: torch.Tensor, repeats: int) -> None:
    """The preprocessor's Lab conversion (numba kernel when installed, with
    torch's thread count and with one thread; the pure-torch path) against
    skimage image by image, all on the same uint8 batch."""
    import os
    from skimage.color import rgb2lab

    from colorssl.color import cpu_kernels
    pre = MODELS.build(dict(type='ColorizationDataPreprocessor'))
    nhwc = images.permute(0, 2, 3, 1).numpy()
    t_ref = timed(lambda: [rgb2lab(img) for img in nhwc], repeats)
    ref = np.stack([rgb2lab(img) for img in nhwc])
    threads = torch.get_num_threads()
    runs = [('preprocessor', threads, '1'), ('preprocessor', 1, '1'),
            ('pure-torch path', threads, '0')]
    if not cpu_kernels.enabled():
        runs = [('preprocessor (numba not installed)', threads, '0')]
    saved = os.environ.get(cpu_kernels.ENV_SWITCH)
    try:
        for name, n, switch in runs:
            os.environ[cpu_kernels.ENV_SWITCH] = switch
            torch.set_num_threads(n)
            t_ours = timed(lambda: pre.to_lab(images), repeats)
            diff = np.abs(pre.to_lab(images).permute(0, 2, 3, 1).numpy() - ref).max()
            print(f'[lab] batch {tuple(images.shape)}: {name} ({n} thread'
                  f'{"s" if n > 1 else ""}) {t_ours * 1e3:.1f} ms, skimage per image '
                  f'{t_ref * 1e3:.1f} ms, speed-up {t_ref / t_ours:.1f}x '
                  f'(target >= 10x), max |diff| {diff:.2e}')
    finally:
        torch.set_num_threads(threads)
        if saved is None:
            os.environ.pop(cpu_kernels.ENV_SWITCH, None)
        else:
            os.environ[cpu_kernels.ENV_SWITCH] = saved


def step_backbone(args) -> dict:
    """The backbone config both models share (in_channels aside)."""
    if args.plain_resnet:
        return dict(type='ResNet', depth=args.depth, out_indices=(3, ))
    from mmengine.config import Config
    backbone = Config.fromfile(args.config).model.backbone.to_dict()
    backbone.pop('init_cfg', None)
    if backbone.get('norm_cfg', {}).get('type') == 'SyncBN':
        backbone['norm_cfg'] = dict(backbone['norm_cfg'], type='BN')
    return backbone


def bench_step(images: torch.Tensor, backbone: dict, repeats: int) -> None:
    n = images.size(0)
    feat = 512 if backbone.get('depth', 50) < 50 else 2048
    color = MODELS.build(dict(
        type='Colorization',
        backbone=dict(backbone, in_channels=1),
        head=dict(type='ColorizationHead', in_channels=feat)))
    cls = MODELS.build(dict(
        type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[123.7, 116.3, 103.5],
                               std=[58.4, 57.1, 57.4], to_rgb=False),
        backbone=dict(backbone, in_channels=3),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=feat)))
    labels = torch.randint(0, 1000, (n, ))

    def batch():
        return dict(inputs=list(images),
                    data_samples=[DataSample().set_gt_label(int(y)) for y in labels])

    steps = {}
    for name, model in (('colorization', color), ('classification', cls)):
        model.train()
        optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-5))
        steps[name] = (lambda model=model, optim=optim:
                       model.train_step(batch(), optim))
        steps[name]()  # warm-up
    # Rounds of one step each, alternating, so that both see the same machine
    # state (a step takes seconds; the machine's speed drifts over minutes).
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med['colorization'] / med['classification']
    per_round = [c / s for c, s in zip(times['colorization'],
                                       times['classification'])]
    desc = (f"ResNet-{backbone.get('depth')} strides {backbone.get('strides', 'stock')}"
            f" dilations {backbone.get('dilations', 'stock')}")
    print(f'[step] {desc}, batch {n} at {images.shape[-1]}px, median of {repeats} '
          f'alternating rounds: colorization {med["colorization"]:.3f} s, '
          f'classification {med["classification"]:.3f} s, ratio {ratio:.3f}x '
          f'(target <= 1.15x); per round: '
          + ', '.join(f'{r:.3f}x' for r in per_round))


def main():
    tune_malloc()  # as tools/train.py does; COLORSSL_MALLOC_TUNING=0 skips
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--size', type=int, default=176)
    parser.add_argument('--config', default=osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'colorization',
        'colorization_resnet50_8xb32-200k_in1k.py'),
        help='config whose model.backbone both steps use')
    parser.add_argument('--plain-resnet', action='store_true',
                        help="a stock stride-32 ResNet of --depth instead")
    parser.add_argument('--depth', type=int, default=50, help='with --plain-resnet')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed runs (Lab) / alternating rounds (steps)')
    parser.add_argument('--skip-step', action='store_true')
    args = parser.parse_args()
    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, 3, args.size, args.size),
                           dtype=torch.uint8)
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}')
    bench_lab(images, args.repeats)
    if not args.skip_step:
        bench_step(images, step_backbone(args), args.repeats)


if __name__ == '__main__':
    main()
