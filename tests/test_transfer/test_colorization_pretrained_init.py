"""init_cfg=dict(type='ColorizationPretrained'): conversion, reports, refusals."""
import pytest
import torch
from transfer_helpers import TINY_RESNET, randomize_norms, write_colorization_ckpt

from colorssl.models.transfer import (CheckpointMismatchError,
                                      convert_colorization_backbone,
                                      load_colorization_checkpoint)


def build_classifier(ckpt_path, depth=18, in_channels=3, num_stages=4, **init_kw):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    init_cfg = dict(type='ColorizationPretrained', checkpoint=ckpt_path, **init_kw)
    out_index = num_stages - 1
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ResNet',
                depth=depth,
                in_channels=in_channels,
                stem_channels=8,
                base_channels=8,
                num_stages=num_stages,
                strides=(1, 2, 2, 2)[:num_stages],
                dilations=(1, 1, 1, 1)[:num_stages],
                out_indices=(out_index, ),
                init_cfg=init_cfg),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead', num_classes=3, in_channels=8 * 2**out_index)))


def test_loads_every_key_converted_and_keeps_residual_bns(tiny_resnet_ckpt):
    path, _ = tiny_resnet_ckpt
    model = build_classifier(path)
    assert model.backbone.zero_init_residual  # mmpretrain's default
    model.init_weights()
    expected, _ = convert_colorization_backbone(
        load_colorization_checkpoint(path), 'rgb')
    got = model.backbone.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, msg=key)
    # zero_init_residual would have zeroed norm2 of every BasicBlock after loading
    assert model.backbone.layer1[0].norm2.weight.abs().min() > 0


def test_gray_single_channel(tiny_resnet_ckpt):
    path, l_net = tiny_resnet_ckpt
    model = build_classifier(
        path, in_channels=1, input='gray', mean=[2.55 * 48], std=[2.55 * 2])
    model.init_weights()
    torch.testing.assert_close(model.backbone.conv1.weight, l_net.conv1.weight)


def test_missing_keys_raise_and_name_them(tiny_resnet_ckpt):
    model = build_classifier(tiny_resnet_ckpt[0], depth=34)
    with pytest.raises(
            CheckpointMismatchError,
            match=r'(?s)missing keys \(would stay at random init\): '
            r'layer1.2.bn1.bias.*\(\d+ in all\)'):
        model.init_weights()


def test_allow_missing(tiny_resnet_ckpt):
    model = build_classifier(
        tiny_resnet_ckpt[0], depth=34, allow_missing=[r'^layer\d\.[2-5]\.'])
    model.init_weights()


def test_unexpected_keys_are_reported_not_fatal(tiny_resnet_ckpt):
    # A 3-stage backbone (ResNet-C4 detectors): layer4 lives in the RoI shared head.
    import logging

    from mmengine.logging import MMLogger
    model = build_classifier(tiny_resnet_ckpt[0], num_stages=3)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    out = '\n'.join(r.getMessage() for r in records)
    assert 'unexpected keys (not in the module, ignored): layer4.0.bn1.bias' in out
    assert 'converted for input=' in out


def test_input_l_into_rgb_stem_is_refused(tiny_resnet_ckpt):
    model = build_classifier(tiny_resnet_ckpt[0], input='l')
    with pytest.raises(CheckpointMismatchError, match='takes 1 channel'):
        model.init_weights()


def test_wrong_number_of_mean_values_is_a_shape_error(tiny_resnet_ckpt):
    model = build_classifier(
        tiny_resnet_ckpt[0], in_channels=3, input='gray', mean=[127.5], std=[2.55])
    with pytest.raises(
            CheckpointMismatchError,
            match=r'conv1.weight \(8, 1, 7, 7\) vs \(8, 3, 7, 7\)'):
        model.init_weights()


def test_non_colorization_checkpoint(tmp_path):
    from transfer_helpers import build_tiny_resnet
    path = write_colorization_ckpt(
        tmp_path / 'cls.pth',
        build_tiny_resnet(1),
        TINY_RESNET,
        model_type='ImageClassifier')
    with pytest.raises(ValueError, match="expected 'Colorization'"):
        build_classifier(path).init_weights()


def test_prefix_matching_no_key(tiny_resnet_ckpt):
    with pytest.raises(ValueError, match="prefix 'neck.' matches no key"):
        build_classifier(tiny_resnet_ckpt[0], prefix='neck.').init_weights()


def test_bad_arguments():
    from colorssl.models.transfer import ColorizationPretrainedInit
    with pytest.raises(ValueError, match='input must be one of'):
        ColorizationPretrainedInit('x.pth', input='lab')
    with pytest.raises(ValueError, match='checkpoint must be the path'):
        ColorizationPretrainedInit('')


def test_colorization_net_target(tmp_path):
    from colorssl.models.backbones import ColorizationNet
    l_net = randomize_norms(ColorizationNet(base_channels=8))
    path = write_colorization_ckpt(
        tmp_path / 'cn.pth',
        l_net,
        dict(type='ColorizationNet', base_channels=8),
        head_in_channels=32)
    net = ColorizationNet(
        in_channels=3,
        base_channels=8,
        out_indices=(0, 1, 2, 3, 4),
        init_cfg=dict(type='ColorizationPretrained', checkpoint=path))
    net.init_weights()
    for key, value in l_net.state_dict().items():
        if key not in ('conv1.0.weight', 'conv1.0.bias'):
            torch.testing.assert_close(net.state_dict()[key], value, msg=key)
    assert net.conv1[0].weight.shape == (8, 3, 3, 3)


def test_norms_without_affine_transfer_as_identity_scale_and_shift(tmp_path):
    """The released network's BatchNorm has no scale/shift (affine=False): into a
    target with affine norms it loads as weight 1, bias 0, so both compute the same."""
    from colorssl.models.backbones import ColorizationNet
    plain = dict(type='BN', affine=False)
    l_net = randomize_norms(
        ColorizationNet(base_channels=8, out_indices=(4, ), norm_cfg=plain))
    path = write_colorization_ckpt(
        tmp_path / 'cn.pth',
        l_net,
        dict(type='ColorizationNet', base_channels=8, norm_cfg=plain),
        head_in_channels=32)
    net = ColorizationNet(
        in_channels=1,
        base_channels=8,
        out_indices=(4, ),
        init_cfg=dict(type='ColorizationPretrained', checkpoint=path, input='l'))
    net.init_weights()  # no missing key: weight / bias filled
    assert torch.equal(net.conv1[4].weight, torch.ones(8))
    assert torch.equal(net.conv1[4].bias, torch.zeros(8))
    x = torch.randn(2, 1, 16, 16) * 20
    with torch.no_grad():
        torch.testing.assert_close(
            net.eval()(x)[0], l_net.eval()(x)[0], rtol=1e-5, atol=1e-5)
