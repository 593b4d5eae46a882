"""Command-line handling of tools/train.py and tools/test.py (``merge_args``).

The end-to-end runs are in the other files of this folder; these check each option's
effect on the config and the errors for bad values, without starting a runner.
"""
import importlib.util
from copy import deepcopy
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from tool_helpers import REPO_ROOT, TINY_CFG


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f'colorssl_tool_{name}',
                                                  REPO_ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool = _load_tool('train')
test_tool = _load_tool('test')


def _train_args(**kwargs):
    args = dict(
        config=str(TINY_CFG),
        work_dir=None,
        resume=None,
        amp=False,
        no_validate=False,
        auto_scale_lr=False,
        launcher='none',
        local_rank=0)
    args.update(kwargs)
    return SimpleNamespace(**args)


def _test_args(**kwargs):
    args = dict(
        config=str(TINY_CFG),
        checkpoint=None,
        work_dir=None,
        out=None,
        show_dir=None,
        launcher='none',
        local_rank=0)
    args.update(kwargs)
    return SimpleNamespace(**args)


@pytest.fixture
def cfg():
    return Config.fromfile(TINY_CFG)


def test_train_default_work_dir_and_resume_modes(cfg, tmp_path):
    out = train_tool.merge_args(deepcopy(cfg), _train_args())
    assert out.work_dir == './work_dirs/tiny_resnet_imagefolder'
    assert out.resume is False and out.launcher == 'none'

    auto = train_tool.merge_args(deepcopy(cfg), _train_args(resume='auto'))
    assert auto.resume is True and auto.load_from is None

    ckpt = tmp_path / 'iter_2.pth'
    torch.save({'state_dict': {}, 'meta': {'iter': 2}}, ckpt)  # a loadable file
    given = train_tool.merge_args(deepcopy(cfg), _train_args(resume=str(ckpt)))
    assert given.resume is True and given.load_from == str(ckpt)


def test_train_missing_resume_checkpoint_is_named(cfg, tmp_path):
    missing = tmp_path / 'missing.pth'
    with pytest.raises(FileNotFoundError, match=str(missing)):
        train_tool.merge_args(cfg, _train_args(resume=str(missing)))


def test_train_amp_and_auto_scale_lr(cfg):
    out = train_tool.merge_args(deepcopy(cfg), _train_args(amp=True))
    if torch.cuda.is_available():
        assert out.optim_wrapper.type == 'AmpOptimWrapper'
        assert out.optim_wrapper.loss_scale == 'dynamic'
    else:  # mmengine's AmpOptimWrapper needs a GPU
        assert out.optim_wrapper.type == 'CPUAmpOptimWrapper'

    other = deepcopy(cfg)
    other.optim_wrapper.type = 'SomeOtherWrapper'
    with pytest.raises(ValueError, match=r'tiny_resnet_imagefolder\.py.*SomeOther'):
        train_tool.merge_args(other, _train_args(amp=True))

    with pytest.raises(KeyError, match='auto_scale_lr.*base_batch_size'):
        train_tool.merge_args(deepcopy(cfg), _train_args(auto_scale_lr=True))
    scaled = deepcopy(cfg)
    scaled.auto_scale_lr = dict(base_batch_size=256)
    assert train_tool.merge_args(scaled, _train_args(
        auto_scale_lr=True)).auto_scale_lr.enable is True


def test_train_no_validate(cfg):
    out = train_tool.merge_args(cfg, _train_args(no_validate=True))
    assert out.val_cfg is None and out.val_dataloader is None
    assert out.val_evaluator is None


def test_test_missing_checkpoint_is_named(cfg, tmp_path):
    missing = tmp_path / 'missing.pth'
    with pytest.raises(FileNotFoundError, match=str(missing)):
        test_tool.merge_args(cfg, _test_args(checkpoint=str(missing)))


def test_test_out_and_show_dir(cfg, tmp_path):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    out = test_tool.merge_args(
        deepcopy(cfg), _test_args(checkpoint=str(ckpt), out='r.pkl', show_dir='show'))
    assert out.load_from == str(ckpt)
    assert [e['type'] for e in out.test_evaluator] == ['Accuracy', 'DumpResults']
    assert out.test_evaluator[1]['out_file_path'] == 'r.pkl'
    hook = out.default_hooks.visualization
    assert hook.enable is True and hook.out_dir == 'show' and hook.interval == 1

    with pytest.raises(ValueError, match='--out.*results.json'):
        test_tool.merge_args(
            deepcopy(cfg), _test_args(checkpoint=str(ckpt), out='results.json'))
    no_hook = deepcopy(cfg)
    no_hook.default_hooks.pop('visualization')
    with pytest.raises(KeyError, match=r'--show-dir.*tiny_resnet_imagefolder\.py'):
        test_tool.merge_args(no_hook, _test_args(checkpoint=str(ckpt), show_dir='show'))
