"""Semantic interpretability of colorizations (Zhang et al. 2016, Table 1, last column).

    python tools/eval_recolorized_classification.py CLS_CONFIG CLS_CHECKPOINT \\
        COLOR_CONFIG COLOR_CHECKPOINT [--mean-ab A B | --mean-ab PRIOR.npz]
        [--max-images N] [--temperature T] [--channel-order auto|rgb|bgr]
        [--device cpu|cuda] [--out results.json]
        [--cls-cfg-options k=v ...] [--color-cfg-options k=v ...]

An mmpretrain classifier (trained on colour photos) classifies the images of its
``test_dataloader`` (the validation images, through its test pipeline) several ways:

- ``gray``: the L channel alone (Lab with ab = 0, back to RGB);
- ``recolorized``: the L channel with the ab predicted by the colorization model
  (``COLOR_CONFIG`` / ``COLOR_CHECKPOINT``, annealed mean) from that L;
- ``mean`` (with ``--mean-ab``): the L channel with one constant ab, the training
  set's mean;
- ``color``: the original image.

Each variant goes back to 8-bit RGB (clipped) in the pipeline's channel order before
the classifier's own data preprocessor. Prints the top-1 accuracy (%) of each; the
paper reports 52.7 (gray) / 56.0 (recolorized) / 68.3 (colour) with a VGG-16 on
ImageNet. The images' channel order is read from the first pipeline step
(``LoadRGBImage``: RGB; otherwise BGR, mmcv's ``LoadImageFromFile``) unless given.
"""
import argparse
import copy
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from colorize import ToolError, build_model, load_model  # noqa: E402

VARIANTS = ('gray', 'recolorized', 'mean', 'color')


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Top-1 of a classifier on gray, recolorized and colour images')
    parser.add_argument('cls_config', help='mmpretrain classifier config')
    parser.add_argument('cls_checkpoint', help='classifier checkpoint')
    parser.add_argument('color_config', help='colorization config')
    parser.add_argument('color_checkpoint', help='colorization checkpoint')
    parser.add_argument(
        '--mean-ab',
        nargs='+',
        default=None,
        help="also classify L + a constant ab: 'A B' or a prior .npz "
        "that records mean_ab (tools/compute_color_prior.py, "
        "prior='auto''s work_dir/color_prior.npz)")
    parser.add_argument(
        '--max-images', type=int, default=None, help='use the first N images only')
    parser.add_argument(
        '--temperature',
        type=float,
        default=None,
        help="annealed-mean temperature (default: the head's)")
    parser.add_argument(
        '--channel-order',
        choices=('auto', 'rgb', 'bgr'),
        default='auto',
        help='channel order of the loaded images')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=None,
        help="images per step (default: the test loader's)")
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")
    parser.add_argument('--out', help='write the accuracies to this .json file')
    parser.add_argument(
        '--cls-cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the classifier config')
    parser.add_argument(
        '--color-cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the colorization config')
    return parser.parse_args(argv)


def mean_ab_arg(values: Optional[Sequence[str]]) -> Optional[torch.Tensor]:
    """``--mean-ab``: two numbers or one prior file -> (2,) tensor."""
    if values is None:
        return None
    if len(values) == 1:
        from colorssl.color import load_prior
        if not osp.isfile(values[0]):
            raise ToolError(f'--mean-ab: no such prior file {values[0]}')
        meta = load_prior(values[0])['meta']
        if 'mean_ab' not in meta:
            raise ToolError(f'--mean-ab: {values[0]} records no mean_ab; give A B')
        return torch.tensor(meta['mean_ab'], dtype=torch.float32)
    if len(values) != 2:
        raise ToolError(f'--mean-ab takes A B or a prior file, got {values}')
    try:
        return torch.tensor([float(v) for v in values])
    except ValueError as err:
        raise ToolError(f'--mean-ab: not numbers: {values}') from err


def channel_order_of(cfg, choice: str) -> str:
    if choice != 'auto':
        return choice
    pipeline = cfg.test_dataloader.dataset.get('pipeline') or [{}]
    return 'rgb' if pipeline[0].get('type') == 'LoadRGBImage' else 'bgr'


def variants(images: torch.Tensor, order: str, colorizer, color_order: str,
             mean_ab: Optional[torch.Tensor],
             temperature: Optional[float]) -> Dict[str, torch.Tensor]:
    """(N, 3, H, W) uint8 in ``order`` -> the variants, uint8 in ``order``."""
    from colorssl.color import lab_to_rgb
    from colorssl.models.data_preprocessors import images_to_lab

    lab = images_to_lab(images, order)
    light = lab[:, :1]

    def to_uint8(ab: torch.Tensor) -> torch.Tensor:
        rgb = lab_to_rgb(torch.cat([light, ab.to(light)], dim=1), clip=True)
        out = (rgb.clamp(0, 1) * 255).round().to(torch.uint8)
        return out.flip(1) if order == 'bgr' else out

    zeros = torch.zeros_like(lab[:, 1:])
    out = dict(gray=to_uint8(zeros))
    gray_input = out['gray'] if order == color_order else out['gray'].flip(1)
    # The colorizer sees the gray image (its L is the original L).
    out['recolorized'] = to_uint8(
        colorizer.colorize(gray_input, temperature=temperature))
    if mean_ab is not None:
        out['mean'] = to_uint8(mean_ab.to(light)[None, :, None, None] + zeros)
    out['color'] = images
    return out


@torch.no_grad()
def run(args) -> Dict[str, float]:
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    mean_ab = mean_ab_arg(args.mean_ab)
    cfg, classifier = load_model(args.cls_config, args.cls_checkpoint, args.device,
                                 args.cls_cfg_options)
    if cfg.get('test_dataloader') is None:
        raise ToolError(f'{args.cls_config} has no test_dataloader (the images to '
                        'classify)')
    colorizer = build_model(args.color_config, args.color_checkpoint, args.device,
                            args.color_cfg_options)
    order = channel_order_of(cfg, args.channel_order)
    color_order = getattr(colorizer.data_preprocessor, 'channel_order', 'rgb')
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    if args.batch_size:
        loader_cfg['batch_size'] = args.batch_size
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))  # the dataset's scope
    loader = Runner.build_dataloader(loader_cfg)
    correct: Dict[str, int] = {}
    seen = 0
    for batch in loader:
        images: List[torch.Tensor] = batch['inputs']
        samples = batch['data_samples']
        if args.max_images is not None:
            left = args.max_images - seen
            images, samples = images[:left], samples[:left]
        if not len(images):
            break
        stacked = torch.stack(list(images)).to(args.device)
        labels = torch.cat([s.gt_label for s in samples]).cpu()
        for name, imgs in variants(stacked, order, colorizer, color_order, mean_ab,
                                   args.temperature).items():
            preds = classifier.test_step(
                dict(inputs=list(imgs.cpu()), data_samples=copy.deepcopy(samples)))
            pred = torch.cat([p.pred_label for p in preds]).cpu()
            correct[name] = correct.get(name, 0) + int((pred == labels).sum())
        seen += len(images)
        print(f'{seen} images classified', flush=True)
        if args.max_images is not None and seen >= args.max_images:
            break
    if seen == 0:
        raise ToolError(f'{args.cls_config}: the test_dataloader gave no image')
    result = {name: 100. * correct[name] / seen for name in VARIANTS if name in correct}
    result['num_images'] = seen
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except ToolError as err:
        print(f'eval_recolorized_classification.py: error: {err}', file=sys.stderr)
        return 1
    print(f'top-1 (%) of {args.cls_config} on {result["num_images"]} images:')
    for name in VARIANTS:
        if name in result:
            print(f'  {name:12s} {result[name]:6.2f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
