"""Colorization pretraining end to end through tools/train.py and tools/test.py."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = 'configs/colorization/colorization_colornet-c16_1xb16-2k_demo.py'


def run(args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    run(['tools/make_demo_data.py', '--out', str(out), '--size', '48',
         '--train-crops', '4', '--val-crops', '3'])
    run(['tools/compute_color_prior.py', str(out / 'train'), '--out',
         str(out / 'prior_313.npz')])
    return out


def test_demo_config_trains_tests_and_draws(demo_data, tmp_path):
    work = tmp_path / 'work'
    opts = [f'model.head.prior={demo_data}/prior_313.npz',
            f'train_dataloader.dataset.data_root={demo_data}',
            f'val_dataloader.dataset.data_root={demo_data}',
            f'test_dataloader.dataset.data_root={demo_data}',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
            'train_cfg.max_iters=24', 'train_cfg.val_interval=24',
            'default_hooks.checkpoint.interval=24', 'default_hooks.logger.interval=1',
            'custom_hooks.0.interval=10', 'param_scheduler.0.milestones=[20]']
    run(['tools/train.py', DEMO, '--work-dir', str(work), '--cfg-options', *opts])
    assert (work / 'iter_24.pth').is_file()
    pictures = sorted(glob.glob(str(work / '*/vis_data/vis_image/colorization_*.png')))
    assert [osp.basename(p) for p in pictures] == ['colorization_10.png',
                                                   'colorization_20.png',
                                                   'colorization_24.png']
    scalars = [json.loads(line) for line in
               open(glob.glob(str(work / '*/vis_data/scalars.json'))[0])]
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) == 24
    assert sum(losses[-5:]) < sum(losses[:5])  # the colour loss goes down
    assert any('color/auc' in s for s in scalars)  # validation ran the metric

    proc = run(['tools/test.py', DEMO, str(work / 'iter_24.pth'), '--work-dir',
                str(tmp_path / 'test'), '--cfg-options', *opts])
    assert 'color/chroma_ratio' in proc.stdout + proc.stderr
