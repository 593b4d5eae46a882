"""Colorization pretraining end to end through tools/train.py and tools/test.py."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = 'configs/colorization/colorization_colornet-c16_1xb16-0.6k_demo.py'


def run(args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable] + args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    run([
        'tools/make_demo_data.py', '--out',
        str(out), '--size', '48', '--train-crops', '4', '--val-crops', '3'
    ])
    run([
        'tools/compute_color_prior.py',
        str(out / 'train'), '--out',
        str(out / 'prior_313.npz')
    ])
    return out


def test_demo_config_trains_tests_and_draws(demo_data, tmp_path):
    work = tmp_path / 'work'
    opts = [
        f'model.head.prior={demo_data}/prior_313.npz',
        f'train_dataloader.dataset.data_root={demo_data}',
        f'val_dataloader.dataset.data_root={demo_data}',
        f'test_dataloader.dataset.data_root={demo_data}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False', 'train_cfg.max_iters=24',
        'train_cfg.val_interval=24', 'default_hooks.checkpoint.interval=24',
        'default_hooks.logger.interval=1', 'custom_hooks.0.interval=10',
        'param_scheduler.0.milestones=[20]'
    ]
    run(['tools/train.py', DEMO, '--work-dir', str(work), '--cfg-options', *opts])
    assert (work / 'iter_24.pth').is_file()
    pictures = sorted(glob.glob(str(work / '*/vis_data/vis_image/colorization_*.png')))
    assert [osp.basename(p) for p in pictures
            ] == ['colorization_10.png', 'colorization_20.png', 'colorization_24.png']
    scalars = [
        json.loads(line)
        for line in open(glob.glob(str(work / '*/vis_data/scalars.json'))[0])
    ]
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) == 24
    assert sum(losses[-5:]) < sum(losses[:5])  # the colour loss goes down
    assert any('color/auc' in s for s in scalars)  # validation ran the metric

    proc = run([
        'tools/test.py', DEMO,
        str(work / 'iter_24.pth'), '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *opts
    ])
    assert 'color/chroma_ratio' in proc.stdout + proc.stderr


# ------------------------------------------------------------ prior='auto' end to end
AUTO_CONFIG = """
_base_ = [{base!r}]
model = dict(head=dict(prior='auto', prior_samples=100))
custom_hooks = [dict(type='ColorPriorHook')]
"""


@pytest.fixture(scope='module')
def auto_run(tmp_path_factory):
    """4 iterations of the tiny colorization config with prior='auto' on a generated
    image folder (16 colour training images)."""
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from tool_helpers import make_image_folder

    root = tmp_path_factory.mktemp('auto')
    images = make_image_folder(root / 'images')
    config = root / 'tiny_auto.py'
    config.write_text(
        AUTO_CONFIG.format(
            base=osp.join(ROOT, 'tests', 'data', 'configs',
                          'tiny_colorization_imagefolder.py')))
    work = root / 'work'
    proc = run([
        'tools/train.py',
        str(config), '--work-dir',
        str(work), '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={images}'
    ])
    return dict(
        config=str(config), images=images, work=work, output=proc.stdout + proc.stderr)


def test_auto_prior_goes_to_log_cache_and_checkpoint(auto_run):
    import torch

    from colorssl.color import load_prior

    assert 'color prior: estimated from 16 images' in auto_run['output']
    logs = glob.glob(str(auto_run['work'] / '*' / '*.log'))
    assert any('color prior: estimated from 16 images' in open(f).read() for f in logs)
    cache = load_prior(auto_run['work'] / 'color_prior.npz')
    assert cache['meta']['num_images_used'] == 16
    state = torch.load(
        auto_run['work'] / 'iter_4.pth', map_location='cpu',
        weights_only=True)['state_dict']
    torch.testing.assert_close(
        state['head.prior'].double(),
        cache['prior'] / cache['prior'].sum(),
        rtol=1e-5,
        atol=1e-8)
    assert int(state['head.prior_num_images']) == 16


def test_checkpoint_alone_serves_colorize_and_test(auto_run, tmp_path):
    """No training data, no prior file: the training data_root of the config
    points nowhere."""
    photo = auto_run['images'] / 'val' / 'red' / 'red_0.png'
    out = tmp_path / 'colorized'
    ckpt = str(auto_run['work'] / 'iter_4.pth')
    run([
        osp.join(ROOT, 'tools', 'colorize.py'), auto_run['config'], ckpt,
        str(photo), '--out-dir',
        str(out), '--size', '32'
    ],
        cwd=str(tmp_path))
    assert (out / 'red_0.png').is_file()
    proc = run([
        osp.join(ROOT, 'tools', 'test.py'), auto_run['config'], ckpt, '--work-dir',
        str(tmp_path / 'test'), '--cfg-options',
        f'test_dataloader.dataset.data_root={auto_run["images"]}',
        'test_evaluator.baselines=[gray,mean]'
    ],
               cwd=str(tmp_path))
    output = proc.stdout + proc.stderr
    assert 'color/auc_rebalanced' in output
    # the 'mean' baseline takes the training mean from the checkpoint's prior
    assert 'color/mean/auc' in output and 'color/gray/auc' in output


def test_auto_prior_without_its_hook_fails_at_the_first_loss(auto_run, tmp_path):
    config = tmp_path / 'no_prior_hook.py'
    config.write_text(f"_base_ = [{auto_run['config']!r}]\ncustom_hooks = []\n")
    work = tmp_path / 'work'
    proc = subprocess.run([
        sys.executable, 'tools/train.py',
        str(config), '--work-dir',
        str(work), '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={auto_run["images"]}'
    ],
                          cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "model.head.prior='auto'" in last and 'ColorPriorHook' in last, last
    assert not list(work.glob('*.pth'))  # stopped before any update was saved


def test_resume_keeps_the_checkpoint_prior(auto_run):
    proc = run([
        'tools/train.py', auto_run['config'], '--work-dir',
        str(auto_run['work']), '--resume', '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={auto_run["images"]}',
        'train_cfg.max_iters=6'
    ])
    output = proc.stdout + proc.stderr
    assert 'color prior: kept from the resumed checkpoint (16 images)' in output
    assert 'color prior: estimated' not in output
    assert (auto_run['work'] / 'iter_6.pth').is_file()
