"""A short colorization run on real photos gives colours that depend on the photo;
a model that paints one colour map on every photo fails the same check.

Trains ``colorization_colornet-c16_1xb32-2k_cifar10mini.py`` with its own recipe for
a few hundred iterations (tools/train.py) and reads ``color/input_dependence`` from
its validation; then the same checkpoint with the head's 1x1 conv weights zeroed (its
output is the bias: one map for every photo) goes through tools/test.py.
"""
import re
import sys

import torch
from tool_helpers import REPO_ROOT, read_scalars, run_dirs, run_tool, train_cmd

import colorssl  # noqa: F401  (weights-only loading of mmengine checkpoints)

CONFIG = (
    REPO_ROOT / 'configs' / 'colorization' /
    'colorization_colornet-c16_1xb32-2k_cifar10mini.py')
ITERS = 600
MIN_INPUT_DEPENDENCE = 0.1  # ColorizationMetric warns below this


def depends_on_input(value: float) -> bool:
    return value >= MIN_INPUT_DEPENDENCE


def test_short_run_depends_on_input_and_painted_map_does_not(shared_data, tmp_path):
    root = shared_data('cifar10-mini')
    options = [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        'val_dataloader.dataset.indices=400',
        'test_dataloader.dataset.indices=400',
        'model.head.prior_samples=2000',
        f'train_cfg.max_iters={ITERS}',
        f'train_cfg.val_interval={ITERS}',
        f'default_hooks.checkpoint.interval={ITERS}',
        'train_dataloader.num_workers=1',
        'val_dataloader.num_workers=1',
    ]
    work = tmp_path / 'run'
    run_tool(
        train_cmd(work, '--cfg-options', *options, config=CONFIG),
        REPO_ROOT,
        timeout=900)
    val = [r for r in read_scalars(run_dirs(work)[-1]) if 'color/auc' in r][-1]
    print("trained input_dependence", val["color/input_dependence"])
    assert depends_on_input(val["color/input_dependence"]), val

    ckpt = torch.load(work / f'iter_{ITERS}.pth', weights_only=True)
    ckpt['state_dict']['head.conv_seg.weight'].zero_()
    painted = tmp_path / 'painted.pth'
    torch.save(ckpt, painted)
    proc = run_tool([
        sys.executable, REPO_ROOT / 'tools' / 'test.py', CONFIG, painted, '--work-dir',
        tmp_path / 'test', '--cfg-options', *options
    ], REPO_ROOT)
    value = float(re.findall(r'color/input_dependence: ([0-9.e+-]+)', proc.stdout)[-1])
    assert not depends_on_input(value), value
    assert 'the predicted colours hardly depend on the photo' in proc.stdout
