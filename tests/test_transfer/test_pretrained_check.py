"""Stock init_cfg=dict(type='Pretrained') on converted checkpoints, checked strictly."""
from types import SimpleNamespace

import pytest
import torch
from transfer_helpers import load_converter

from colorssl.engine.hooks import PretrainedCheckHook
from colorssl.models.transfer import CheckpointMismatchError


def build(checkpoint, backbone_type='ResNet', prefix='backbone.', **kwargs):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type=backbone_type,
                depth=18,
                stem_channels=8,
                base_channels=8,
                init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix),
                **kwargs),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64)))


@pytest.fixture
def converted(tiny_resnet_ckpt, tmp_path):
    dst = str(tmp_path / 'converted.pth')
    assert load_converter().main([tiny_resnet_ckpt[0], dst]) == 0
    return dst


def test_stock_pretrained_loads_the_converted_checkpoint(converted):
    model = build(converted)
    model.init_weights()
    reports = PretrainedCheckHook().check(model)
    assert [name for name, _ in reports] == ['backbone']
    assert reports[0][1].ok and not reports[0][1].unexpected
    saved = torch.load(converted)['state_dict']
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(value, saved['backbone.' + key], msg=key)


def test_hook_fails_a_run_whose_backbone_stays_random(converted):
    # mmpretrain's ResNetV1c has a deep stem: mmengine would load the rest with
    # strict=False and leave the stem random without an error.
    model = build(converted, backbone_type='ResNetV1c')
    model.init_weights()
    hook = PretrainedCheckHook()
    with pytest.raises(
            CheckpointMismatchError, match=r'(?s)stem.0.conv.weight.*'
            r'deep_stem=False'):
        hook.before_train(SimpleNamespace(model=model))
    # allowed explicitly: passes
    PretrainedCheckHook(
        allow_missing=[r'^stem\.']).before_train(SimpleNamespace(model=model))


def test_prefix_matching_no_key(converted):
    model = build(converted, prefix='encoder.')
    with pytest.raises(
            ValueError,
            match=r"prefix 'encoder.' matches no key; its keys "
            r"start with \['backbone.'\]"):
        PretrainedCheckHook().check(model)


def test_pretrained_without_checkpoint():
    model = build('')
    with pytest.raises(ValueError, match="type='Pretrained' has no checkpoint"):
        PretrainedCheckHook().check(model)
