"""Test (evaluate) a checkpoint: mmpretrain's ``tools/test.py`` with colorssl
registered.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--out-item metrics|pred] [--cfg-options k=v ...] [--amp] [--show-dir DIR]
        [--show] [--interval N] [--wait-time S] [--no-pin-memory] [--tta]
        [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os
import os.path as osp
from copy import deepcopy

import mmengine
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import colorssl  # noqa: F401  (registers colorssl; weights-only checkpoint loading)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the metrics file')
    parser.add_argument('--out', help='the file to write the results to')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help="what --out holds: 'metrics' or 'pred' (the predictions, default)")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, key=value pairs (lists: key="[a,b]" or key=a,b)')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision testing')
    parser.add_argument('--show-dir', help='the dir to save the drawn predictions')
    parser.add_argument(
        '--show', action='store_true', help='show the predictions in a window')
    parser.add_argument(
        '--interval', type=int, default=1, help='draw every interval-th sample')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='seconds each window is shown')
    parser.add_argument(
        '--no-pin-memory', action='store_true', help='pin_memory=False in dataloaders')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_model and tta_pipeline, by '
        'default the mean class score over a horizontal flip')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg, args):
    """Apply the command line to ``cfg``; ``--cfg-options`` last."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg.fp16 = True

    if args.show or args.show_dir is not None:
        assert 'visualization' in cfg.default_hooks, (
            '--show / --show-dir need default_hooks.visualization, e.g. '
            "dict(type='VisualizationHook')")
        cfg.default_hooks.visualization.update(
            enable=True,
            show=args.show,
            wait_time=args.wait_time,
            out_dir=args.show_dir,
            interval=args.interval)

    if args.tta:
        test_pipeline = cfg.test_dataloader.dataset.pipeline
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            flips = [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)]
            cfg.tta_pipeline = deepcopy(test_pipeline)
            cfg.tta_pipeline[-1] = dict(
                type='TestTimeAug', transforms=[flips, [test_pipeline[-1]]])
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    if cfg.get('test_dataloader') is not None:
        loader = ConfigDict(pin_memory=True)
        if cfg.get('default_scope', 'mmpretrain') == 'mmpretrain':  # as mmpretrain
            loader.collate_fn = dict(type='default_collate')
        loader.update(cfg.test_dataloader)
        if args.no_pin_memory:
            loader.pin_memory = False
        cfg.test_dataloader = loader

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()
    if args.out is None and args.out_item is not None:
        raise ValueError('--out-item needs --out, the file to write to')
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out and args.out_item in ('pred', None):
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()
    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)


if __name__ == '__main__':
    main()
