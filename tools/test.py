"""Test (evaluate) a checkpoint with an OpenMMLab config (mmpretrain, mmdet or mmseg).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show-dir DIR] [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os.path as osp

import colorssl  # noqa: F401  (registers colorssl modules, safe checkpoint loading)
from colorssl.utils.config_checks import (add_common_args, apply_common_args,
                                          build_runner, load_config,
                                          registry_errors_named)
from colorssl.utils.cpu_dist import close_distributed

# The visualisation hook of each scope and how it is told to draw to a folder.
# mmpretrain's hook draws every ``interval``-th sample (default 5000); its stock
# test.py sets ``interval`` from ``--interval``, default 1: every sample.
_SHOW_HOOKS = {
    # mmpretrain
    'VisualizationHook': dict(enable=True, out_dir='show_dir', interval=1),
    'DetVisualizationHook': dict(draw=True, test_out_dir='show_dir'),  # mmdet
    'SegVisualizationHook': dict(draw=True),  # mmseg
}


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint (colorssl)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument(
        '--show-dir',
        help='draw the predictions into this folder (mmpretrain: the '
        'folder as given; mmdet: inside the work dir\'s timestamped run folder; '
        'mmseg: <show-dir>/vis_data/vis_image)')
    add_common_args(parser)
    return parser.parse_args()


def merge_args(cfg, args):
    apply_common_args(cfg, args)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint

    if args.show_dir:
        hook = cfg.get('default_hooks', {}).get('visualization')
        if hook is None or hook.get('type', '').split('.')[-1] not in _SHOW_HOOKS:
            raise KeyError(
                f'--show-dir needs default_hooks.visualization in {args.config} to be '
                f'one of {sorted(_SHOW_HOOKS)}, got {hook}')
        for key, value in _SHOW_HOOKS[hook.type.split('.')[-1]].items():
            hook[key] = args.show_dir if value == 'show_dir' else value
        if hook.type.split('.')[-1] == 'SegVisualizationHook':
            cfg.visualizer.save_dir = args.show_dir

    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, got {args.out}')
        dump = dict(type='DumpResults', out_file_path=args.out)
        evaluator = cfg.test_evaluator
        cfg.test_evaluator = (list(evaluator) if isinstance(evaluator, (list, tuple))
                              else [evaluator]) + [dump]
    return cfg


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    runner = build_runner(cfg, args.config)
    with registry_errors_named(args.config):
        runner.test()
    close_distributed()


if __name__ == '__main__':
    main()
