"""Command-line handling of tools/train.py and tools/test.py (``merge_args``), which
follow mmpretrain's tools; the end-to-end runs are in the other files of this folder.
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
COMMON = dict(config=str(TINY_CFG), work_dir=None, cfg_options=None, launcher='none')


def _train_args(**kwargs):
    args = dict(
        COMMON,
        resume=None,
        amp=False,
        no_validate=False,
        auto_scale_lr=False,
        no_pin_memory=False,
        no_persistent_workers=False)
    return SimpleNamespace(**dict(args, **kwargs))


def _test_args(**kwargs):
    args = dict(
        COMMON,
        checkpoint='x.pth',
        amp=False,
        show=False,
        show_dir=None,
        interval=1,
        wait_time=2,
        no_pin_memory=False,
        tta=False)
    return SimpleNamespace(**dict(args, **kwargs))


@pytest.fixture
def cfg():
    return Config.fromfile(TINY_CFG)


def test_train_work_dir_resume_and_validation(cfg):
    out = train_tool.merge_args(deepcopy(cfg), _train_args())
    assert out.work_dir == './work_dirs/tiny_resnet_imagefolder'
    assert out.resume is False and out.launcher == 'none'
    auto = train_tool.merge_args(deepcopy(cfg), _train_args(resume='auto'))
    assert auto.resume is True and auto.load_from is None
    given = train_tool.merge_args(deepcopy(cfg), _train_args(resume='a/iter_2.pth'))
    assert given.resume is True and given.load_from == 'a/iter_2.pth'
    off = train_tool.merge_args(deepcopy(cfg), _train_args(no_validate=True))
    assert off.val_cfg is None and off.val_dataloader is None
    assert off.val_evaluator is None


def test_train_amp_and_auto_scale_lr(cfg):
    out = train_tool.merge_args(deepcopy(cfg), _train_args(amp=True))
    if torch.cuda.is_available():
        assert out.optim_wrapper.type == 'AmpOptimWrapper'
        assert out.optim_wrapper.loss_scale == 'dynamic'
    else:  # mmengine's AmpOptimWrapper needs a GPU
        assert out.optim_wrapper.type == 'CPUAmpOptimWrapper'
    scaled = deepcopy(cfg)
    scaled.auto_scale_lr = dict(base_batch_size=256)
    out = train_tool.merge_args(scaled, _train_args(auto_scale_lr=True))
    assert out.auto_scale_lr.enable is True


def test_train_dataloader_defaults_and_cfg_options_last(cfg):
    cfg.train_dataloader.pop('persistent_workers')
    out = train_tool.merge_args(deepcopy(cfg), _train_args())
    assert out.train_dataloader.pin_memory is True
    assert out.train_dataloader.persistent_workers is True  # mmpretrain's default
    assert out.val_dataloader.persistent_workers is False  # the config's
    assert out.train_dataloader.collate_fn == dict(type='default_collate')
    off = train_tool.merge_args(
        deepcopy(cfg),
        _train_args(
            no_pin_memory=True,
            no_persistent_workers=True,
            cfg_options={'train_dataloader.pin_memory': True}))
    assert off.train_dataloader.persistent_workers is False
    assert off.val_dataloader.pin_memory is False
    assert off.train_dataloader.pin_memory is True


def test_test_checkpoint_show_dir_amp_and_pin_memory(cfg):
    out = test_tool.merge_args(
        deepcopy(cfg),
        _test_args(show_dir='show', interval=3, amp=True, no_pin_memory=True))
    assert out.load_from == 'x.pth' and out.test_cfg.fp16 is True
    hook = out.default_hooks.visualization
    assert (hook.enable, hook.out_dir, hook.interval, hook.show) == (True, 'show', 3,
                                                                     False)
    assert out.test_dataloader.pin_memory is False
    no_hook = deepcopy(cfg)
    no_hook.default_hooks.pop('visualization')
    with pytest.raises(AssertionError, match='default_hooks.visualization'):
        test_tool.merge_args(no_hook, _test_args(show=True))


def test_test_tta_wraps_model_and_pipeline(cfg):
    out = test_tool.merge_args(deepcopy(cfg), _test_args(tta=True))
    assert out.model.type == 'mmpretrain.AverageClsScoreTTA'
    assert out.model.module.type == 'ImageClassifier'
    last = out.test_dataloader.dataset.pipeline[-1]
    assert last['type'] == 'TestTimeAug'
    assert [t['prob'] for t in last['transforms'][0]] == [1., 0.]
