"""Every colorization pretraining config rebalances with its own data's prior (no
other dataset's prior file), keeps the prior hook, and the released-recipe and
HNC-flip switches are where the config headers say."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PRETRAIN = sorted(glob.glob(osp.join(ROOT, 'configs', 'colorization', '*.py')))


def hook_types(cfg):
    return [h['type'] for h in cfg.get('custom_hooks', [])]


@pytest.mark.parametrize('path', PRETRAIN, ids=osp.basename)
def test_prior_is_estimated_or_absent_and_the_hook_is_there(path):
    cfg = Config.fromfile(path)
    prior = cfg.model.head.get('prior', 'auto')
    if osp.basename(path).endswith('_demo.py') and prior != 'auto':
        pytest.skip('the demo config switches to prior=auto separately')
    assert prior in ('auto', None), f'{path}: model.head.prior={prior!r}'
    if prior == 'auto':
        assert 'ColorPriorHook' in hook_types(cfg), path


@pytest.mark.parametrize('path', PRETRAIN, ids=osp.basename)
def test_mean_baseline_has_a_mean(path):
    """A 'mean' baseline takes the training mean from the model's prior, or from
    an explicit mean_ab when the model has none."""
    cfg = Config.fromfile(path)
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key) or {}
        if 'mean' in evaluator.get('baselines', ()):
            assert (evaluator.get('mean_ab') is not None
                    or cfg.model.head.get('prior', 'auto') is not None), (path, key)


def test_released_recipe_config():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'colorization',
                 'colorization_colornet-k10_1xb40-450k_in1k.py'))
    head = cfg.model.head
    assert (head.num_neighbors, head.target_resize, head.gray_test) == (10, 'nearest',
                                                                        'target')


@pytest.mark.parametrize('name', [
    'hnc-kd_resnet50_8xb32-120e_in1k', 'hnc-kd_resnet101_8xb32-120e_in1k',
    'hnc-kd_resnet152_8xb32-120e_in1k', 'hnc-mse_resnet101_8xb32-120e_in1k'
])
def test_hnc_resnet_imagenet_trains_without_flip(name):
    pytest.importorskip('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'hnc', f'{name}.py'))
    steps = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'RandomFlip' not in steps and 'RandomResizedCrop' in steps
