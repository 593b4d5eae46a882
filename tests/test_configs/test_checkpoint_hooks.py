"""Every runnable config saves its checkpoints with SafeCheckpointHook (the old
checkpoint is removed only after the new one is saved and loads), named so that its
default scope finds it: ``'mmpretrain.SafeCheckpointHook'`` from mmdet and mmseg."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p.split(osp.sep))
PACKAGES = {'mmdetection': 'mmdet', 'mmsegmentation': 'mmseg'}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_checkpoint_hook_is_the_safe_one(path, need_package):
    package = PACKAGES.get(osp.basename(osp.dirname(path)))
    if package is not None:
        need_package(package)
    cfg = Config.fromfile(path)
    hook = cfg.get('default_hooks', {}).get('checkpoint')
    assert hook is not None, f'{path}: no default_hooks.checkpoint'
    prefix = '' if cfg.default_scope == 'mmpretrain' else 'mmpretrain.'
    assert hook['type'] == f'{prefix}SafeCheckpointHook', (path, hook)
