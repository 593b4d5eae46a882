"""Helpers of the tool tests: a generated image folder and a tool runner.

The tools run as a user runs them: ``python tools/train.py ...`` in a subprocess with
the repository on ``PYTHONPATH``.
"""
import json
import os
import os.path as osp
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).parents[2]
TINY_CFG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny_resnet_imagefolder.py'
MAX_ITERS = 6  # train_cfg.max_iters in TINY_CFG
CKPT_INTERVAL = 2  # default_hooks.checkpoint.interval in TINY_CFG
N_VAL = 8  # images in val/ (4 per class)


def make_image_folder(root: Path, n_train: int = 8, n_val: int = 4) -> Path:
    """Write ``root/{train,val}/<class>/<class>_<i>.png``: 32x32 noisy red or blue.

    File names are unique across classes because mmpretrain's visualisation hook
    names its drawings after the image's base name.
    """
    from PIL import Image
    rng = np.random.default_rng(0)
    for split, n in (('train', n_train), ('val', n_val)):
        for channel, name in ((2, 'blue'), (0, 'red')):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 100, size=(32, 32, 3))
                img[..., channel] += 120
                Image.fromarray(img.astype(np.uint8)).save(folder / f'{name}_{i}.png')
    return root


def data_options(root: Path) -> list:
    """``--cfg-options`` pointing every dataloader of TINY_CFG at ``root``."""
    return ['--cfg-options'] + [
        f'{loader}.dataset.data_root={root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def tool_env() -> dict:
    """The environment a user would have: repo importable, one thread per process."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    # Two tiny processes share two busy cores; more threads only spin.
    env.setdefault('OMP_NUM_THREADS', '1')
    env.setdefault('MKL_NUM_THREADS', '1')
    # Keep log lines and the final traceback in the order they were written.
    env['PYTHONUNBUFFERED'] = '1'
    return env


def run_tool(args, cwd, expect_ok=True, timeout=300, env=None):
    """Run ``args`` (a command list) and return the CompletedProcess.

    With ``expect_ok`` a non-zero exit fails the test with the tail of the output.
    """
    proc = subprocess.run([str(a) for a in args],
                          cwd=str(cwd),
                          env=env or tool_env(),
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=timeout)
    if expect_ok and proc.returncode != 0:
        pytest.fail(f'{" ".join(map(str, args))} exited {proc.returncode}:\n'
                    f'{proc.stdout[-6000:]}')
    return proc


def train_cmd(work_dir, *extra, config=TINY_CFG):
    return [
        sys.executable, REPO_ROOT / 'tools' / 'train.py', config, '--work-dir',
        work_dir, *extra
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_dirs(work_dir: Path) -> list:
    """The timestamped run folders mmengine made in ``work_dir``, oldest first."""
    return sorted(
        p for p in Path(work_dir).iterdir() if p.is_dir() and (p / 'vis_data').is_dir())


def read_scalars(run_dir: Path) -> list:
    """The records of ``<run_dir>/vis_data/scalars.json`` (one JSON per line)."""
    with open(run_dir / 'vis_data' / 'scalars.json') as f:
        return [json.loads(line) for line in f if line.strip()]


def train_records(run_dir: Path) -> dict:
    """``{iter: record}`` of the training iterations logged in ``run_dir``."""
    return {r['iter']: r for r in read_scalars(run_dir) if 'iter' in r}


def checkpoints(work_dir: Path) -> list:
    return sorted(p.name for p in Path(work_dir).glob('*.pth'))


def last_checkpoint(work_dir: Path) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


PLUGINS = REPO_ROOT / 'tests' / 'data' / 'plugins'


def cpu_dist_config(base, folder, plugins=(), lines=''):
    """A config file: ``base`` on CPU ranks (the cpu_dist plugin), importing
    ``plugins`` too, plus ``lines``."""
    path = folder / f'cpu_dist_{base.stem}.py'
    imports = ['colorssl', 'cpu_dist', *plugins]
    path.write_text(f'_base_ = {str(base)!r}\n'
                    f'custom_imports = dict(imports={imports!r}, '
                    'allow_failed_imports=False)\n'
                    "model_wrapper_cfg = dict(type='MMDistributedDataParallel', "
                    'device_ids=None, broadcast_buffers=False)\n' + lines)
    return path


def cpu_dist_env():
    env = tool_env()
    env['PYTHONPATH'] = os.pathsep.join([env['PYTHONPATH'], str(PLUGINS)])
    return env
