"""Convert a colorization checkpoint into a checkpoint of stock backbone weights.

    python tools/model_converters/colorization_to_backbone.py SRC DST \
        [--input rgb|gray|l] [--mean 123.675 116.28 103.53] \
        [--std 58.395 57.12 57.375] \
        [--channel-order rgb|bgr] [--prefix backbone.] [--check-config CONFIG]

SRC is a checkpoint of a ``Colorization`` model (its backbone saw ``(L - l_cent) /
l_norm``; both are read from the training config stored in the checkpoint). The stem is
converted for ``--input`` (see ``colorssl.models.transfer``): ``rgb`` gives an
``in_channels=3`` stem for colour images normalised with ``--mean``/``--std``; ``gray``
one for ``RGBToGray`` images with as many channels as ``--mean`` has values (1 or 3);
``l`` keeps the L stem. DST holds ``{'state_dict': {'backbone.<key>': ...}, 'meta':
{...}}`` and loads with the stock

    init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')

mmengine loads that with ``strict=False``: add
``custom_hooks=[dict(type='PretrainedCheckHook')]`` to make missing keys an error, or
pass ``--check-config`` to compare with a config's ``model.backbone`` now.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config

import colorssl  # noqa: F401  (registers colorssl modules, safe checkpoint loading)
from colorssl.models.transfer import (IMAGENET_MEAN, IMAGENET_STD, check_loadable,
                                      convert_colorization_backbone, format_report,
                                      load_colorization_checkpoint)
from colorssl.models.transfer.colorization_checkpoint import CONVERTED_META_KEY


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Colorization checkpoint -> stock backbone checkpoint')
    parser.add_argument('src', help='checkpoint of a Colorization model')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument(
        '--input',
        choices=['rgb', 'gray', 'l'],
        default='rgb',
        help='what the fine-tuned backbone is fed (default: rgb)')
    parser.add_argument(
        '--mean',
        type=float,
        nargs='+',
        default=list(IMAGENET_MEAN),
        help='data preprocessor mean, pixel units, network channel '
        'order (default: ImageNet RGB)')
    parser.add_argument(
        '--std',
        type=float,
        nargs='+',
        default=list(IMAGENET_STD),
        help='data preprocessor std (default: ImageNet RGB)')
    parser.add_argument(
        '--channel-order',
        choices=['rgb', 'bgr'],
        default='rgb',
        help='channel order the network sees (default: rgb)')
    parser.add_argument(
        '--prefix',
        default='backbone.',
        help='prefix of the backbone keys in SRC, kept in DST '
        '(default: backbone.)')
    parser.add_argument(
        '--l-cent',
        type=float,
        default=None,
        help='override the L centring read from SRC')
    parser.add_argument(
        '--l-norm', type=float, default=None, help='override the L scale read from SRC')
    parser.add_argument(
        '--check-config',
        default=None,
        help='a config whose model.backbone must load DST fully')
    return parser.parse_args(argv)


def build_backbone(config: str):
    """Build ``model.backbone`` of a config in its default scope (without weights)."""
    from mmengine.registry import MODELS, init_default_scope

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if 'backbone' not in cfg.get('model', {}):
        raise KeyError(f'{config}: no model.backbone to check against')
    backbone_cfg = cfg.model.backbone.copy()
    backbone_cfg.pop('init_cfg', None)
    backbone_cfg.pop('pretrained', None)
    return MODELS.build(backbone_cfg)


def convert(args) -> dict:
    ckpt = load_colorization_checkpoint(args.src, args.prefix, args.l_cent, args.l_norm)
    state, info = convert_colorization_backbone(ckpt, args.input, args.mean, args.std,
                                                args.channel_order)
    if args.check_config:
        backbone = build_backbone(args.check_config)
        report = check_loadable(backbone.state_dict(), state,
                                f'{args.src} -> model.backbone of {args.check_config}',
                                args.input)
        print(f'{args.check_config}: {format_report(report)}')
    info['source_backbone_type'] = ckpt.backbone_type
    prefix = ckpt.prefix
    return dict(
        state_dict={
            prefix + k: v.clone()
            for k, v in state.items()
        },
        meta={CONVERTED_META_KEY: info})


def main(argv=None):
    args = parse_args(argv)
    out = convert(args)
    dst_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(dst_dir, exist_ok=True)
    torch.save(out, args.dst)
    info = out['meta'][CONVERTED_META_KEY]
    print(f"wrote {args.dst}: {len(out['state_dict'])} tensors, stem {info['stem']} "
          f"for input={info['input']!r}" +
          (f" (offset into {info['offset_into']})" if 'offset_into' in info else '') +
          f"; load with init_cfg=dict(type='Pretrained', checkpoint={args.dst!r}, "
          f"prefix={args.prefix!r})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
