"""Every runnable config saves its checkpoints with SafeCheckpointHook (atomic
writes, --resume fallback), so the stock OpenMMLab tools get them too, not only
colorssl's tools/train.py (which keeps the hooks a config names)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p.split(osp.sep))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_checkpoint_hook_is_the_safe_one(path, need_package):
    text = open(path).read()
    for scope, package in (('mmdet', 'mmdet'), ('mmseg', 'mmseg')):
        if f'{scope}::' in text or f"'{scope}" in text:
            need_package(package)
    cfg = Config.fromfile(path)
    hook = cfg.get('default_hooks', {}).get('checkpoint')
    assert hook is not None, f'{path}: no default_hooks.checkpoint'
    assert hook['type'] == 'SafeCheckpointHook', (path, hook)
