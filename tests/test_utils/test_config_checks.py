"""Config loading errors of colorssl.utils.config_checks (in process, no runner)."""
import pytest
from mmengine.config import Config

from colorssl.utils import config_checks
from colorssl.utils.config_checks import (CUSTOM_IMPORTS_HINT, check_custom_imports,
                                          colorssl_type_names, explain_registry_error,
                                          load_config, registry_errors_named)

FAKE = 'FakeColorsslType'


@pytest.fixture
def fake_colorssl_type(monkeypatch):
    """Pretend colorssl registered ``FAKE`` (independent of what it registers now)."""
    monkeypatch.setattr(config_checks, 'colorssl_type_names', lambda: {FAKE})


def test_load_config_missing_file_names_path(tmp_path):
    missing = tmp_path / 'nope' / 'cfg.py'
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_config(str(missing))


def test_load_config_merges_options(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text("model = dict(type='ResNet', depth=18)\n")
    cfg = load_config(str(path), {'model.depth': 50, 'work_dir': 'x'})
    assert cfg.model.depth == 50 and cfg.work_dir == 'x'


@pytest.mark.parametrize(
    'model',
    [
        dict(type=FAKE),
        dict(type=f'mmpretrain.{FAKE}'),  # scoped
        dict(
            type='ImageClassifier',
            head=dict(losses=[dict(type='A'), dict(type=FAKE)])),
    ])
def test_colorssl_type_without_custom_imports_is_refused(fake_colorssl_type, model):
    cfg = Config(dict(model=model))
    with pytest.raises(ValueError) as info:
        check_custom_imports(cfg, 'configs/my_cfg.py')
    message = str(info.value)
    assert 'configs/my_cfg.py' in message and repr(FAKE) in message
    assert CUSTOM_IMPORTS_HINT in message


@pytest.mark.parametrize('imports', [['colorssl'], ['mmdet.models', 'colorssl.models'],
                                     'colorssl'])
def test_colorssl_type_with_custom_imports_passes(fake_colorssl_type, imports):
    cfg = Config(dict(model=dict(type=FAKE), custom_imports=dict(imports=imports)))
    check_custom_imports(cfg, 'cfg.py')


def test_stock_types_need_no_custom_imports(fake_colorssl_type):
    check_custom_imports(Config(dict(model=dict(type='ResNet'))), 'cfg.py')


def test_colorssl_type_names_are_colorssl_classes():
    import importlib

    from mmengine.registry import Registry
    modules = {}
    for package in ('mmengine.registry', 'mmpretrain.registry', 'mmdet.registry',
                    'mmseg.registry'):
        try:
            registries = importlib.import_module(package)
        except (ImportError, AssertionError):
            continue
        for registry in vars(registries).values():
            if isinstance(registry, Registry):
                for name, obj in registry.module_dict.items():
                    modules.setdefault(name, set()).add(obj.__module__)
    names = colorssl_type_names()
    for name in names:
        assert any(m.startswith('colorssl.') for m in modules[name]), name
    # ...and every colorssl class registered anywhere is among them.
    assert names >= {
        name
        for name, mods in modules.items() if any(
            m.startswith('colorssl.') for m in mods)
    }


def _registry_error(model_cfg):
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    with pytest.raises(KeyError) as info:
        MODELS.build(model_cfg)
    return info.value


@pytest.mark.parametrize(
    'model_cfg',
    [
        dict(type='NoSuchModel'),
        # Nested: mmengine wraps the backbone's error in the classifier's message.
        dict(type='ImageClassifier', backbone=dict(type='NoSuchModel')),
    ])
def test_registry_error_names_type_and_file(model_cfg):
    better = explain_registry_error(_registry_error(model_cfg), 'configs/x.py')
    assert isinstance(better, KeyError)
    message = better.args[0]
    assert message.startswith('configs/x.py: ')
    assert "unknown type 'NoSuchModel'" in message
    assert 'mmpretrain::model registry' in message
    assert CUSTOM_IMPORTS_HINT in message


def test_registry_errors_named_context():
    with pytest.raises(KeyError, match='configs/x.py') as info:
        with registry_errors_named('configs/x.py'):
            raise _registry_error(dict(type='NoSuchModel'))
    assert isinstance(info.value.__cause__, KeyError)  # the original is kept
    # Other KeyErrors pass through untouched.
    with pytest.raises(KeyError, match='^.some_key.$'):
        with registry_errors_named('configs/x.py'):
            raise KeyError('some_key')
    assert explain_registry_error(KeyError('some_key'), 'x.py') is None


@pytest.mark.parametrize('cfg_dict, extra, why', [
    (dict(default_scope='mmseg'), 'seg', "default_scope='mmseg'"),
    (dict(
        default_scope='mmpretrain',
        model=dict(type='ImageClassifier',
                   head=dict(type='mmdet.RPNHead'))), 'det', "type='mmdet.RPNHead'"),
])
def test_check_extras_names_the_extra(monkeypatch, cfg_dict, extra, why):
    monkeypatch.setattr(config_checks, 'is_available', lambda module: False)
    with pytest.raises(ImportError) as info:
        config_checks.check_extras(Config(cfg_dict), 'configs/my_cfg.py')
    message = str(info.value)
    assert message.startswith(f'configs/my_cfg.py ({why}) needs'), message
    assert f"pip install 'colorssl[{extra}]'" in message, message


def test_check_extras_ignores_mmpretrain_configs(monkeypatch):
    monkeypatch.setattr(config_checks, 'is_available', lambda module: False)
    config_checks.check_extras(
        Config(dict(default_scope='mmpretrain', model=dict(type='mmpretrain.ResNet'))),
        'cfg.py')


def _colorization(head=None, hooks=None):
    cfg = dict(
        model=dict(
            type='Colorization',
            backbone=dict(type='ColorizationNet'),
            head=dict(type='ColorizationHead', in_channels=64, **(head or {}))))
    if hooks is not None:
        cfg['custom_hooks'] = hooks
    return Config(cfg)


@pytest.mark.parametrize(
    'head, hooks',
    [
        ({}, None),  # prior left at the head's default, 'auto'
        (dict(prior='auto'), []),
        (dict(prior='auto'), [dict(type='ColorizationVisualizationHook')]),
    ])
def test_auto_prior_without_prior_hook_is_refused(head, hooks):
    with pytest.raises(ValueError) as info:
        config_checks.check_color_prior_hook(_colorization(head, hooks), 'my_cfg.py')
    message = str(info.value)
    assert message.startswith("my_cfg.py: model.head.prior is 'auto'"), message
    assert "dict(type='ColorPriorHook')" in message


@pytest.mark.parametrize('head, hooks', [
    (dict(prior='auto'), [dict(type='ColorPriorHook')]),
    (dict(prior='auto'), [dict(type='colorssl.ColorPriorHook', seed=1)]),
    (dict(prior=None), None),
    (dict(prior='work_dirs/x/color_prior.npz'), []),
])
def test_prior_hook_check_passes(head, hooks):
    config_checks.check_color_prior_hook(_colorization(head, hooks), 'my_cfg.py')


def test_prior_hook_check_ignores_classifiers():
    config_checks.check_color_prior_hook(
        Config(
            dict(model=dict(type='ImageClassifier', head=dict(type='LinearClsHead')))),
        'cfg.py')
