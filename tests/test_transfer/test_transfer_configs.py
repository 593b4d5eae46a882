"""Every transfer config, end to end through tools/train.py, for a few iterations on
tiny data on CPU (the configs unchanged except data roots, sizes and iterations via
--cfg-options).

The ImageNet / VOC / COCO configs run on tiny data sets written here in the stock
layouts; the small real-data configs run on a few images of ../shared/data (skipped
when it is absent, failed when CI=true). mmdet and mmseg configs need those packages
(the full environment of tools/setup_env.sh); without them they are skipped (failed
when CI=true).
"""
import importlib.util
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image

BENCH = REPO_ROOT / 'configs' / 'benchmarks'
SHARED = REPO_ROOT.parent / 'shared' / 'data'
IN_CI = os.environ.get('CI', '').lower() == 'true'


def need_package(name):
    if importlib.util.find_spec(name) is None:
        msg = (f'{name} is not installed (the full environment of tools/setup_env.sh '
               'has it)')
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


def need_shared(sub):
    path = SHARED / sub
    if not path.is_dir():
        msg = f'real data {path} is absent'
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return str(path)


# ----------------------------------------------------------------------------------
# checkpoints: real Colorization models built from the pretraining configs, saved as
# mmengine's CheckpointHook does (state_dict + meta['cfg'] = the config text)
# ----------------------------------------------------------------------------------
def save_colorization_model(config, path, **overrides):
    import colorssl  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'colorization' / config))
    cfg.merge_from_dict(overrides)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict(), 'meta': {'cfg': cfg.pretty_text}},
               str(path))
    return str(path)


@pytest.fixture(scope='session')
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpts')
    cache = {}

    def get(name):
        if name not in cache:
            config = {
                'r50': 'colorization_resnet50_8xb32-200k_in1k.py',
                'colornet': 'colorization_colornet_1xb40-450k_in1k.py',
                'colornet-c16': 'colorization_colornet-c16_1xb32-2k_cifar10mini.py',
                'r18': 'colorization_resnet18-w32_1xb16-2k_camvidmini-raccoon.py',
            }[name]
            # the colour prior only sets non-persistent buffers of the head
            cache[name] = save_colorization_model(config, root / f'{name}.pth',
                                                  **{'model.head.prior': None})
        return cache[name]

    return get


# ----------------------------------------------------------------------------------
# tiny data sets in the stock layouts
# ----------------------------------------------------------------------------------
def _write_jpg(path, rng, size=(64, 48)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)).save(
        path, quality=95)


@pytest.fixture(scope='session')
def tiny_imagenet(tmp_path_factory):
    """data_root/{train,val}/*.JPEG with meta/{train,val}.txt (mmpretrain ImageNet)."""
    root = tmp_path_factory.mktemp('imagenet')
    rng = np.random.default_rng(0)
    os.makedirs(root / 'meta')
    for split in ('train', 'val'):
        lines = []
        for i in range(4):
            name = f'n0{i % 2}/{split}_{i}.JPEG'
            _write_jpg(str(root / split / name), rng)
            lines.append(f'{name} {i % 2}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return str(root)


# ----------------------------------------------------------------------------------
# running tools/train.py
# ----------------------------------------------------------------------------------
def loader_options(*loaders, batch_size=2):
    opts = []
    for loader in loaders:
        opts += [f'{loader}.batch_size={batch_size}', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts


def run_train(config, work_dir, options, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT), os.environ.get('PYTHONPATH', '')]), OMP_NUM_THREADS='2')
    cmd = [sys.executable, str(REPO_ROOT / 'tools' / 'train.py'), str(config),
           '--work-dir', str(work_dir), '--cfg-options', *options]
    proc = subprocess.run(cmd, cwd=str(REPO_ROOT), env=env, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)}\n{out[-6000:]}'
    return out


def assert_loaded_all(out):
    """The ColorizationPretrained init reported every backbone key loaded."""
    loads = re.findall(r'ColorizationPretrained: loaded (\d+)/(\d+) keys', out)
    assert loads, 'no ColorizationPretrained report in the log'
    for got, total in loads:
        assert got == total


def saved_state(work_dir):
    ckpts = [f for f in os.listdir(work_dir) if f.endswith('.pth')]
    assert ckpts, f'no checkpoint in {work_dir}'
    return torch.load(osp.join(work_dir, sorted(ckpts)[-1]),
                      map_location='cpu')['state_dict']


# ----------------------------------------------------------------------------------
# mmpretrain
# ----------------------------------------------------------------------------------
IMAGENET_EPOCH = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                  'default_hooks.logger.interval=1',
                  'default_hooks.checkpoint.interval=1']


def imagenet_size_options(first):
    """64-pixel crops instead of 224 (``first``: index of the crop in the train
    pipeline, of ResizeEdge in the test pipeline)."""
    return [f'train_dataloader.dataset.pipeline.{first}.scale=64',
            f'val_dataloader.dataset.pipeline.{first}.scale=73',
            f'val_dataloader.dataset.pipeline.{first + 1}.crop_size=64']


def test_resnet50_linear_probe_in1k(tiny_imagenet, ckpts, tmp_path):
    from colorssl.models.transfer import (convert_colorization_backbone,
                                          load_colorization_checkpoint)
    ckpt = ckpts('r50')
    out = run_train(
        BENCH / 'mmpretrain' / 'resnet50_colorization-pre_8xb32-linear-steplr-100e_in1k.py',
        tmp_path, [f'model.backbone.init_cfg.checkpoint={ckpt}',
                   f'train_dataloader.dataset.data_root={tiny_imagenet}',
                   f'val_dataloader.dataset.data_root={tiny_imagenet}',
                   *loader_options('train_dataloader', 'val_dataloader'),
                   *imagenet_size_options(1), *IMAGENET_EPOCH])
    assert_loaded_all(out)
    assert 'accuracy/top1' in out
    # the probe is linear: the frozen backbone leaves training as it came in
    expected, _ = convert_colorization_backbone(load_colorization_checkpoint(ckpt), 'rgb')
    state = saved_state(tmp_path)
    for key, value in expected.items():
        torch.testing.assert_close(state['backbone.' + key], value, msg=key)


def test_colornet_multilayer_probe_in1k(tiny_imagenet, ckpts, tmp_path):
    ckpt = ckpts('colornet')
    out = run_train(
        BENCH / 'mmpretrain' /
        'colornet_colorization-pre_8xb32-linear-multilayer-steplr-90e_in1k.py',
        tmp_path, [f'model.backbone.init_cfg.checkpoint={ckpt}',
                   f'train_dataloader.dataset.data_root={tiny_imagenet}',
                   f'val_dataloader.dataset.data_root={tiny_imagenet}',
                   *loader_options('train_dataloader', 'val_dataloader'),
                   *imagenet_size_options(2), *IMAGENET_EPOCH])
    assert_loaded_all(out)
    for layer in ('conv1', 'conv5'):
        assert f'probe/{layer}/top1' in out and f'loss_{layer}' in out
    state = saved_state(tmp_path)
    source = torch.load(ckpt)['state_dict']
    for key in ('conv2.0.weight', 'conv5.6.running_mean'):
        torch.testing.assert_close(state['backbone.' + key], source['backbone.' + key])


CIFAR_SHRINK = ['train_dataloader.dataset.indices=4', 'val_dataloader.dataset.indices=4',
                'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1']


@pytest.mark.parametrize('config,pretrained', [
    ('colornet-c16_colorization-pre_1xb64-linear-multilayer-10e_cifar10mini.py', True),
    ('colornet-c16_colorization-pre-rgb_1xb64-linear-multilayer-10e_cifar10mini.py',
     True),
    ('colornet-c16_random-init_1xb64-linear-multilayer-10e_cifar10mini.py', False),
])
def test_cifar10mini_probes(config, pretrained, ckpts, tmp_path):
    need_shared('cifar10-mini')
    options = [*loader_options('train_dataloader', 'val_dataloader'), *CIFAR_SHRINK]
    if pretrained:
        options.append(f"model.backbone.init_cfg.checkpoint={ckpts('colornet-c16')}")
    out = run_train(BENCH / 'mmpretrain' / config, tmp_path, options)
    if pretrained:
        assert_loaded_all(out)
    else:
        assert 'ColorizationPretrained' not in out
    assert 'probe/conv5/top1' in out
