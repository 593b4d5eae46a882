"""Every configs/hnc/*.py builds with mmpretrain's MODELS; small ones train.

Big models (ResNet-101/152, ViT-B, Swin-T) are only built (no forward). The
ResNet ones and the cifar10-mini model run one optimiser step on tiny input,
with the labels / scores their datasets would give.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'hnc')
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
# config name -> input size of the one-step training check
TRAIN_STEP = {
    'hnc-kd_resnet18_1xb128-10e_cifar10mini.py': 32,
    'plain_resnet18_1xb128-10e_cifar10mini.py': 32,
    'hnc-kd_resnet50_8xb32-120e_in1k.py': 64,
    'hnc-kd_resnet50_8xb8-100e_cub.py': 64,
    'hnc-kd_resnet50_8xb16-20e_voc07.py': 64,
}

torch.set_num_threads(1)


def _ids(paths):
    return [osp.basename(p) for p in paths]


def test_configs_found():
    assert len(CONFIGS) >= 10
    assert set(TRAIN_STEP) <= set(_ids(CONFIGS))


@pytest.mark.parametrize('path', CONFIGS, ids=_ids(CONFIGS))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert 'colorssl' in cfg.custom_imports['imports']
    head = cfg.model.head
    assert cfg.model.get('neck') is None
    assert head.type in ('HNCLinearClsHead', 'HNCMultiLabelLinearClsHead')
    evaluators = cfg.val_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    assert any(e['type'] == 'NegativeCAMMetric' for e in evaluators)
    if osp.basename(path) in TRAIN_STEP:
        return  # built (and trained) below
    model_cfg = cfg.model.copy()
    model_cfg.backbone.pop('init_cfg', None)  # no download
    model = MODELS.build(model_cfg)
    assert model.head.num_classes == head.num_classes
    if head.get('hnc_loss'):
        assert model.head.hnc_loss.k == head.hnc_loss.k < head.num_classes


def _samples(cfg, n):
    num_classes = cfg.model.head.num_classes
    if cfg.model.head.type == 'HNCMultiLabelLinearClsHead':
        samples = [
            DataSample().set_gt_label([i % num_classes, (i + 3) % num_classes])
            for i in range(n)
        ]
        samples[0].set_metainfo(dict(gt_label_difficult=[5]))
        return samples
    return [DataSample().set_gt_label(i % num_classes) for i in range(n)]


@pytest.mark.parametrize('name', sorted(TRAIN_STEP))
def test_one_train_step(name):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    model_cfg = cfg.model.copy()
    model_cfg.backbone.pop('init_cfg', None)
    model_cfg.data_preprocessor = cfg.get('data_preprocessor', None)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.train()
    size = TRAIN_STEP[name]
    data = dict(
        inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
                for _ in range(2)],
        data_samples=_samples(cfg, 2))
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    from mmengine.optim import OptimWrapper
    losses = model.train_step(data, OptimWrapper(optim))
    assert torch.isfinite(losses['loss'])
    if cfg.model.head.get('hnc_loss'):
        assert torch.isfinite(losses['loss_hnc'])
        assert losses['loss_hnc'] > 0
    else:
        assert 'loss_hnc' not in losses
    model.eval()
    data['data_samples'] = _samples(cfg, 2)
    preds = model.val_step(data)
    assert 'neg_cam_stats' in preds[0]
