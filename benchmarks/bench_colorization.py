"""Colorization training step vs the same backbone's supervised step.

    python benchmarks/bench_colorization.py [--models paper resnet50] [--rounds 3]
        [--size 176] [--device cpu]

For each model, one colorization pretraining step (Lab conversion in the data
preprocessor + backbone + 313-bin head + soft encoding + rebalanced loss + Adam)
is timed against one supervised classification step (mmpretrain ImageClassifier,
the same backbone with ``in_channels=3``, global pooling, a 1000-class linear
head, Adam) on the same uint8 batch, in alternating rounds; the ratio of the
medians is printed with each round's ratio (target <= 1.15x).

* ``paper``: ColorizationNet at full width (the paper's network,
  ``configs/colorization/colorization_colornet_1xb40-450k_in1k.py``), batch 40.
* ``resnet50``: the shipped colorization ResNet-50 (dilated to output stride 8,
  ``configs/colorization/colorization_resnet50_8xb32-200k_in1k.py``), batch 32.

SyncBN is replaced by BN and the prior is the shipped file (no prior estimation).
In the same rounds, the two colour pieces of the step are timed on their own at the
step's sizes: soft encoding of the ab target at the prediction size (``SoftEncoder``
with rebalancing weights) and the loss forward + backward
(``multinomial_color_loss`` on channels-last logits); their share of the
colorization step is printed beside the ratio.
"""
import argparse
import os.path as osp
import statistics
import time

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401
from colorssl.color import (DEFAULT_PRIOR, SoftEncoder, load_ab_bins, load_prior,
                            rebalance_weights, rgb8_to_lab)
from colorssl.models.losses import multinomial_color_loss

CONFIGS = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'colorization')
MODELS_TO_RUN = dict(
    paper=(osp.join(CONFIGS, 'colorization_colornet_1xb40-450k_in1k.py'), 40),
    resnet50=(osp.join(CONFIGS, 'colorization_resnet50_8xb32-200k_in1k.py'), 32))


def build_models(config: str, device: str):
    """The colorization model of ``config`` and a classifier on its backbone."""
    model = Config.fromfile(config).model.to_dict()
    backbone = model['backbone']
    backbone.pop('init_cfg', None)
    if backbone.get('norm_cfg', {}).get('type') == 'SyncBN':
        backbone['norm_cfg'] = dict(backbone['norm_cfg'], type='BN')
    model['head']['prior'] = DEFAULT_PRIOR
    color = MODELS.build(model)
    cls = MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                mean=[123.7, 116.3, 103.5],
                std=[58.4, 57.1, 57.4],
                to_rgb=False),
            backbone=dict(backbone, in_channels=3),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=1000,
                in_channels=model['head']['in_channels'])))
    return color.to(device), cls.to(device)


def colour_pieces(images: torch.Tensor, device: str, stride: int = 4):
    """Soft encoding and loss forward/backward at the step's sizes, as callables."""
    bins = load_ab_bins()
    bin_weight = rebalance_weights(load_prior(DEFAULT_PRIOR)['prior']).float()
    encoder = SoftEncoder(bins, num_neighbors=5, sigma=5.0).to(device)
    images = images.to(device)
    ab = rgb8_to_lab(images)[:, 1:]
    ab = F.adaptive_avg_pool2d(ab, [s // stride for s in ab.shape[2:]])
    idx, weight, pixel_weight = encoder(ab, bin_weight=bin_weight.to(device))
    logits = torch.randn(len(ab), len(bins), *ab.shape[2:], device=device)
    logits = logits.contiguous(memory_format=torch.channels_last).requires_grad_()

    def loss():
        multinomial_color_loss(logits, (idx, weight), pixel_weight).backward()
        logits.grad = None

    return dict(encode=lambda: encoder(ab, bin_weight=bin_weight.to(device)), loss=loss)


def bench(name: str, rounds: int, size: int, device: str) -> None:
    config, batch_size = MODELS_TO_RUN[name]
    color, cls = build_models(config, device)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(
        0, 256, (batch_size, 3, size, size), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 1000, (batch_size, ), generator=gen)

    def batch():
        return dict(
            inputs=list(images),
            data_samples=[DataSample().set_gt_label(int(y)) for y in labels])

    def sync():
        if device.startswith('cuda'):
            torch.cuda.synchronize()

    tasks = {}
    for key, model in (('colorization', color), ('classification', cls)):
        model.train()
        optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-5))
        tasks[key] = (lambda model=model, optim=optim: model.train_step(batch(), optim))
    tasks.update(colour_pieces(images, device))
    for fn in tasks.values():  # warm-up
        fn()
    # Rounds of one run each, alternating, so that all see the same machine
    # state (a step takes seconds; the machine's speed drifts over minutes).
    times = {key: [] for key in tasks}
    for _ in range(rounds):
        for key, fn in tasks.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[key].append(time.perf_counter() - start)
    med = {key: statistics.median(t) for key, t in times.items()}
    ratio = med['colorization'] / med['classification']
    per_round = ', '.join(
        f'{c / s:.3f}x' for c, s in zip(times['colorization'], times['classification']))
    print(f'[{name}] batch {batch_size} at {size}px on {device}, median of {rounds} '
          f'alternating rounds: colorization {med["colorization"]:.3f} s '
          f'({batch_size / med["colorization"]:.1f} img/s), classification '
          f'{med["classification"]:.3f} s ({batch_size / med["classification"]:.1f} '
          f'img/s), ratio {ratio:.3f}x (target <= 1.15x); per round: {per_round}')
    print(
        f'[{name}] share of the colorization step: soft encoding '
        f'{med["encode"] * 1e3:.1f} ms ({med["encode"] / med["colorization"]:.1%}),'
        f' loss forward+backward {med["loss"] * 1e3:.1f} ms '
        f'({med["loss"] / med["colorization"]:.1%})',
        flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--models', nargs='+', choices=list(MODELS_TO_RUN), default=list(MODELS_TO_RUN))
    parser.add_argument(
        '--rounds',
        type=int,
        default=3,
        help='alternating timed rounds (after one warm-up)')
    parser.add_argument('--size', type=int, default=176)
    parser.add_argument('--device', default='cpu', help="e.g. 'cuda'")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} CPU threads, '
          f'device {args.device}')
    for name in args.models:
        bench(name, args.rounds, args.size, args.device)


if __name__ == '__main__':
    main()
