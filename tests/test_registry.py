"""One registry rule: every colorssl module is in mmpretrain's registries, and each
registered name builds from a config dict (with ``default_scope='mmpretrain'``, and
as ``'mmpretrain.<name>'`` from the mmdet and mmseg scopes)."""
import importlib

import pytest
import torch
from mmengine.registry import DefaultScope, Registry

import colorssl  # noqa: F401  (registers the modules)


def _colorssl_entries(registry_module):
    """``{(registry attribute, name): class}`` of colorssl's modules in the
    registries defined (not re-exported) by ``registry_module``."""
    module = importlib.import_module(registry_module)
    scope = registry_module.split('.')[0]
    found = {}
    for attr, registry in vars(module).items():
        if not isinstance(registry, Registry) or registry.scope != scope:
            continue
        for name, obj in registry.module_dict.items():
            if getattr(obj, '__module__', '').startswith('colorssl'):
                found[attr, name] = obj
    return found


REGISTERED = _colorssl_entries('mmpretrain.registry')

# The arguments each module needs to be built; a module registered without an entry
# here fails test_every_module_has_a_build_config.
COLORIZATION = dict(
    backbone=dict(type='ColorizationNet', base_channels=8, out_indices=(7, )),
    head=dict(type='ColorizationHead', in_channels=16, prior=None))
HNC_CLASSIFIER = dict(
    backbone=dict(type='ResNet', depth=18),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=4, in_channels=512),
    hnc_loss=dict(type='HNCLoss', k=2))
PARAMS = [torch.nn.Parameter(torch.zeros(1))]
BUILD_ARGS = {
    'Colorization': COLORIZATION,
    'ColorizationNet': dict(base_channels=8),
    'ColorizationDataPreprocessor': {},
    'ColorizationHead': dict(in_channels=8, prior=None),
    'HNCImageClassifier': HNC_CLASSIFIER,
    'HNCLinearClsHead': dict(num_classes=4, in_channels=8),
    'HNCMultiLabelLinearClsHead': dict(num_classes=4, in_channels=8),
    'MultiLayerLinearClsHead': dict(num_classes=4, in_channels=[8, 16]),
    'HNCLoss': dict(k=2),
    'MultinomialColorLoss': {},
    'MultiLayerAvgPool': dict(output_sizes=2),
    'LoadRGBImage': {},
    'RGBToGray': dict(num_channels=1),
    'ColorPriorHook': {},
    'ColorizationVisualizationHook': {},
    'DataDependentInitHook': {},
    'PretrainedCheckHook': {},
    'SafeCheckpointHook': dict(interval=2, max_keep_ckpts=1),
    'SkippedImagesHook': {},
    'ColorizationMetric': {},
    'MultiLayerAccuracy': {},
    'NegativeCAMMetric': {},
    'CPUAmpOptimWrapper': dict(optimizer=torch.optim.SGD(PARAMS, lr=0.1)),
    'ColorizationPretrained': dict(checkpoint='colorization.pth'),
}


def test_every_module_has_a_build_config():
    names = {name for _, name in REGISTERED}
    assert {
        'Colorization', 'SafeCheckpointHook', 'RGBToGray', 'ColorizationPretrained'
    } <= names  # the enumeration itself works
    assert names == set(BUILD_ARGS)


@pytest.mark.parametrize('package',
                         ['mmengine.registry', 'mmdet.registry', 'mmseg.registry'])
def test_no_colorssl_module_elsewhere(package):
    if importlib.util.find_spec(package.split('.')[0]) is None:
        pytest.skip(f'{package} is not installed')
    assert _colorssl_entries(package) == {}


@pytest.mark.parametrize(
    'attr,name', sorted(REGISTERED), ids=[n for _, n in sorted(REGISTERED)])
def test_builds_from_a_config_dict(attr, name):
    registry = getattr(importlib.import_module('mmpretrain.registry'), attr)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        obj = registry.build(dict(type=name, **BUILD_ARGS[name]))
    assert isinstance(obj, REGISTERED[attr, name])


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_found_from_other_scopes_with_the_prefix(scope):
    if importlib.util.find_spec(scope) is None:
        pytest.skip(f'{scope} is not installed')
    registries = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        for (attr, name), cls in REGISTERED.items():
            registry = getattr(registries, attr)
            assert registry.get(f'mmpretrain.{name}') is cls, (scope, attr, name)
