"""Every configs/hnc/*.py builds with mmpretrain's MODELS; small ones train.

Big models (ResNet-101/152, ViT-B, Swin-T) are only built (no forward). The
ResNet ones and the cifar10-mini model run one optimiser step on tiny input,
with the labels / scores their datasets would give.
"""
import glob
import os.path as osp

import numpy as np
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


def _np_reference_losses(model, inputs, samples, head_cfg):
    """The head's ``loss`` and ``loss_hnc`` recomputed in numpy (float64) from
    the backbone's feature map and the fc weights: CAMs, the k highest-scoring
    classes that are neither positive nor difficult, kd term, CE / BCE."""
    with torch.no_grad():
        fmap = model.backbone(inputs)[-1].double().numpy()
    weight = model.head.fc.weight.detach().double().numpy()
    bias = model.head.fc.bias.detach().double().numpy()
    n, num_classes = fmap.shape[0], weight.shape[0]
    cams = np.einsum('kc,nchw->nkhw', weight, fmap) + bias[None, :, None, None]
    logits = cams.mean(axis=(2, 3))
    positive = np.zeros((n, num_classes), bool)
    exclude = np.zeros((n, num_classes), bool)
    for i, ds in enumerate(samples):
        positive[i, ds.gt_label.numpy()] = True
        exclude[i] = positive[i]
        exclude[i, list(ds.get('gt_label_difficult', []))] = True
    loss_cfg = head_cfg.get('loss', dict(type='CrossEntropyLoss'))
    assert loss_cfg['type'] == 'CrossEntropyLoss', loss_cfg
    if loss_cfg.get('use_sigmoid', False):
        # log(1 + e^-z) for positives, log(1 + e^z) for the others
        sign = np.where(positive, -1.0, 1.0)
        cls_loss = np.logaddexp(0, sign * logits).sum() / n
    else:
        labels = positive.argmax(1)
        shifted = logits - logits.max(1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        cls_loss = -logp[np.arange(n), labels].mean()
    cls_loss *= loss_cfg.get('loss_weight', 1.0)
    hnc_cfg = head_cfg.get('hnc_loss')
    if not hnc_cfg:
        return cls_loss, None
    assert hnc_cfg.get('mode', 'kd') == 'kd' and 'temperature' not in hnc_cfg
    hnc = 0.0
    for i in range(n):
        negatives = [c for c in np.argsort(-logits[i]) if not exclude[i, c]]
        for c in negatives[:hnc_cfg['k']]:
            z = cams[i, c].ravel()
            # cross-entropy of the spatial softmax against the uniform map
            hnc += np.log(np.exp(z - z.max()).sum()) + z.max() - z.mean()
    return cls_loss, hnc_cfg['loss_weight'] * hnc / n


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
        inputs=[
            torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(2)
        ],
        data_samples=_samples(cfg, 2))
    # Reference on the step's own batch, before the step changes the weights
    # (BatchNorm in train mode normalises with this batch's statistics both
    # times).
    inputs = model.data_preprocessor(data, True)['inputs']
    ref_cls, ref_hnc = _np_reference_losses(model, inputs, data['data_samples'],
                                            cfg.model.head)
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    from mmengine.optim import OptimWrapper
    losses = model.train_step(data, OptimWrapper(optim))
    np.testing.assert_allclose(losses['loss'].item(), ref_cls, rtol=1e-4)
    if ref_hnc is not None:
        np.testing.assert_allclose(losses['loss_hnc'].item(), ref_hnc, rtol=1e-4)
    else:
        assert 'loss_hnc' not in losses
    model.eval()
    data['data_samples'] = _samples(cfg, 2)
    preds = model.val_step(data)
    assert 'neg_cam_stats' in preds[0]
