"""Train a model from an OpenMMLab config (mmpretrain, mmdet or mmseg scope).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

Checkpoints are written atomically and ``--resume`` falls back to the newest checkpoint
that loads (a stock ``CheckpointHook`` is run as colorssl's ``SafeCheckpointHook``).
"""
import argparse
import os.path as osp

import torch

import colorssl  # noqa: F401  (registers colorssl modules, safe checkpoint loading)
from colorssl.utils.checkpoint_check import checkpoint_problem
from colorssl.utils.config_checks import (add_common_args, apply_common_args,
                                          build_runner, check_color_prior_hook,
                                          load_config, registry_errors_named)
from colorssl.utils.cpu_dist import close_distributed


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model (colorssl)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a path, resume from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='enable automatic mixed precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the real batch size '
        '(needs `auto_scale_lr.base_batch_size` in the config)')
    add_common_args(parser)
    return parser.parse_args()


def merge_args(cfg, args):
    """Apply the command line to the config, as the stock OpenMMLab tools do."""
    apply_common_args(cfg, args)

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP is already enabled in the config.')
        elif optim_wrapper != 'OptimWrapper':
            raise ValueError(
                f'--amp needs optim_wrapper.type OptimWrapper, {args.config} uses '
                f'{optim_wrapper!r}')
        elif torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:  # mmengine's AmpOptimWrapper needs a GPU
            print('--amp without CUDA: bfloat16 CPU autocast (CPUAmpOptimWrapper)')
            cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise KeyError(
                f'--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` '
                f'in {args.config}')
        cfg.auto_scale_lr.enable = True

    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint not found: {args.resume}')
        problem = checkpoint_problem(args.resume)
        if problem is not None:
            raise RuntimeError(f'cannot resume from checkpoint {args.resume}: '
                               f'{problem}')
        cfg.resume = True
        cfg.load_from = args.resume

    return cfg


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    check_color_prior_hook(cfg, args.config)
    runner = build_runner(cfg, args.config)
    with registry_errors_named(args.config):
        runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
