"""HNCImageClassifier on mmpretrain's own config files, one step per family."""
import os.path as osp

import mmpretrain
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401

CONFIGS = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs')
# family -> (config file, input size)
FAMILIES = {
    'resnet': ('resnet/resnet18_8xb32_in1k.py', 64),
    'resnext': ('resnext/resnext50-32x4d_8xb32_in1k.py', 64),
    'seresnet': ('seresnet/seresnet50_8xb32_in1k.py', 64),
    'res2net': ('res2net/res2net50-w14-s8_8xb32_in1k.py', 64),
    'mobilenet_v2': ('mobilenet_v2/mobilenet-v2_8xb32_in1k.py', 64),
    'mobilenet_v3': ('mobilenet_v3/mobilenet-v3-small_8xb128_in1k.py', 64),
    'shufflenet_v2': ('shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py', 64),
    'regnet': ('regnet/regnetx-400mf_8xb128_in1k.py', 64),
    'efficientnet': ('efficientnet/efficientnet-b0_8xb32_in1k.py', 64),
    'convnext': ('convnext/convnext-tiny_32xb128_in1k.py', 64),
    'convnext_v2': ('convnext_v2/convnext-v2-atto_32xb32_in1k.py', 64),
    'vit': ('vision_transformer/vit-base-p16_64xb64_in1k.py', 64),
    'deit': ('deit/deit-tiny_4xb256_in1k.py', 64),
    'deit_distilled': ('deit/deit-tiny-distilled_4xb256_in1k.py', 64),
    'swin_transformer': ('swin_transformer/swin-tiny_16xb64_in1k.py', 224),
    'poolformer': ('poolformer/poolformer-s12_32xb128_in1k.py', 64),
    'van': ('van/van-tiny_8xb128_in1k.py', 64),
    'hrnet': ('hrnet/hrnet-w18_4xb32_in1k.py', 64),
    'repvgg': ('repvgg/repvgg-A0_8xb32_in1k.py', 64),
    'mobileone': ('mobileone/mobileone-s0_8xb32_in1k.py', 64),
    'edgenext': ('edgenext/edgenext-xxsmall_8xb256_in1k.py', 64),
    'tinyvit': ('tinyvit/tinyvit-5m_8xb256_in1k.py', 224),
    'levit': ('levit/levit-128s_8xb256_in1k.py', 224),
    'efficientformer': ('efficientformer/efficientformer-l1_8xb128_in1k.py', 224),
    'densenet': ('densenet/densenet121_4xb256_in1k.py', 64),
    'twins': ('twins/twins-pcpvt-small_8xb128_in1k.py', 64),
}
HNC = dict(type='HNCLoss', k=3, mode='kd', loss_weight=1.0)


def _build(name, hnc=True):
    path, _ = FAMILIES[name]
    cfg = Config.fromfile(osp.join(CONFIGS, path))
    if name in ('levit', 'efficientformer'):  # stock mmpretrain trains these
        cfg.model.head.distillation = False  # only without distillation
    if hnc:  # what a user's config inheriting this one adds
        cfg.merge_from_dict(dict(model=dict(type='HNCImageClassifier', hnc_loss=HNC)))
    # as mmengine's Runner does: the config's top-level data_preprocessor
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('name', sorted(FAMILIES))
def test_family_one_step(name):
    torch.set_num_threads(1)
    size = FAMILIES[name][1]
    model = _build(name)
    stock = _build(name, hnc=False)
    stock.load_state_dict(model.state_dict())
    model.train()
    inputs = torch.rand(2, 3, size, size)
    samples = [DataSample().set_gt_label(i) for i in (0, 1)]
    data = dict(inputs=inputs * 255, data_samples=samples)
    data = model.data_preprocessor(data, True)
    if model.data_preprocessor.batch_augments:  # Mixup/CutMix: soft + hard label
        assert 'gt_score' in data['data_samples'][0]
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    hnc = losses['loss_hnc']
    assert torch.isfinite(hnc) and hnc > 0
    model.zero_grad()
    hnc.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    stock.load_state_dict(model.state_dict())  # BN statistics of the step
    model.eval()
    stock.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            model(inputs, mode='tensor'), stock(inputs, mode='tensor'))
        preds = model(inputs, samples, mode='predict')
    assert set(preds[0].neg_cam_stats) >= {'neg_contrast', 'pos_share'}


def test_unsupported_head_names_it():
    """VGG classifies in its backbone (head ClsHead without classes)."""
    cfg = Config.fromfile(osp.join(CONFIGS, 'vgg/vgg11_8xb32_in1k.py'))
    cfg.merge_from_dict(dict(model=dict(type='HNCImageClassifier', hnc_loss=HNC)))
    with pytest.raises(TypeError, match='VGG.*ClsHead'):
        MODELS.build(cfg.model)


def test_multi_label_and_metric():
    """Multi-hot labels; the predictions feed NegativeCAMMetric."""
    from colorssl.evaluation.metrics import NegativeCAMMetric
    cfg = Config.fromfile(osp.join(CONFIGS, FAMILIES['resnet'][0]))
    cfg.merge_from_dict(
        dict(
            model=dict(
                type='HNCImageClassifier',
                hnc_loss=HNC,
                head=dict(
                    type='MultiLabelLinearClsHead',
                    num_classes=10,
                    topk=None,
                    loss=dict(use_sigmoid=True)))))
    model = MODELS.build(cfg.model)
    inputs = torch.rand(2, 3, 64, 64)
    samples = [DataSample().set_gt_label(lb) for lb in ([0, 3], [1])]
    losses = model.loss(inputs, samples)
    assert torch.isfinite(losses['loss_hnc'])
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    metric = NegativeCAMMetric()
    metric.process(None, [p.to_dict() for p in preds])
    assert set(metric.compute_metrics(
        metric.results)) == {'peak_ratio', 'peak_above_target', 'pos_pixel_share'}


def test_visualize_tool(tmp_path):
    """tools/visualize_negative_cams.py draws HNCImageClassifier CAMs."""
    import importlib.util

    import numpy as np
    from PIL import Image
    root = osp.join(osp.dirname(__file__), '..', '..', '..')
    spec = importlib.util.spec_from_file_location(
        'vis', osp.join(root, 'tools', 'visualize_negative_cams.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    base = osp.abspath(
        osp.join(root, 'configs', 'hnc', 'hnc-kd_resnet18_1xb128-10e_cifar10mini.py'))
    config = tmp_path / 'cfg.py'
    config.write_text(f'_base_ = [{base!r}]\n'
                      "model = dict(type='HNCImageClassifier', hnc_loss=dict("
                      "type='HNCLoss', k=3), neck=dict(_delete_=True, "
                      "type='GlobalAveragePooling'),"
                      " head=dict(_delete_=True, type='LinearClsHead', "
                      'num_classes=10, in_channels=64))\n')
    img = tmp_path / 'img.png'
    Image.fromarray(np.zeros((32, 32, 3), np.uint8) + 100).save(img)
    out = tmp_path / 'cams.png'
    tool.main([str(config), 'none', str(img), '--num-neg', '2', '--out', str(out)])
    assert out.is_file()
