"""Resuming and loading mmengine checkpoints under torch's weights-only ``torch.load``.

An interrupted run resumed with ``--resume`` (latest checkpoint of the work dir) or
``--resume PATH`` must continue exactly like the uninterrupted run: same iterations,
same logged losses (smoothed over 4 iterations, so the restored message-hub history
matters too), same final weights. ``load_from`` and ``init_cfg=dict(type='Pretrained')``
must load the weights of a full training checkpoint.
"""
import re
import shutil

import pytest
import torch
from tool_helpers import (CKPT_INTERVAL, MAX_ITERS, TINY_CFG, checkpoints, data_options,
                          last_checkpoint, run_dirs, run_tool, train_cmd, train_records)

import colorssl  # noqa: F401  (weights-only loading of mmengine checkpoints)

STOP_AT = 4  # the interrupted run stops here (a checkpoint iteration)
assert STOP_AT % CKPT_INTERVAL == 0 and STOP_AT < MAX_ITERS


def _assert_continues_like(run_dir, reference_dir, start=STOP_AT):
    """``run_dir`` logged iterations start+1..MAX_ITERS like ``reference_dir``."""
    resumed, reference = train_records(run_dir), train_records(reference_dir)
    assert sorted(resumed) == list(range(start + 1, MAX_ITERS + 1))
    for it in resumed:
        assert resumed[it]['lr'] == pytest.approx(reference[it]['lr'], rel=1e-9)
        assert resumed[it]['loss'] == pytest.approx(
            reference[it]['loss'], rel=1e-5, abs=1e-6), it


def _assert_same_weights(ckpt_a, ckpt_b):
    a, b = torch.load(ckpt_a), torch.load(ckpt_b)
    assert a['meta']['iter'] == b['meta']['iter'] == MAX_ITERS
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key in a['state_dict']:
        torch.testing.assert_close(
            b['state_dict'][key], a['state_dict'][key], msg=lambda m: f'{key}: {m}')


@pytest.fixture(scope='module')
def interrupted_run(image_root, tmp_path_factory):
    """The work dir of a run of TINY_CFG stopped after its checkpoint at STOP_AT."""
    base = tmp_path_factory.mktemp('interrupted')
    work_dir = base / 'work'
    run_tool(
        train_cmd(work_dir, *data_options(image_root),
                  f'train_cfg.max_iters={STOP_AT}'),
        cwd=base)
    assert last_checkpoint(work_dir).endswith(f'iter_{STOP_AT}.pth')
    return work_dir


def _copy_run(src, dst):
    """A copy of the work dir ``src`` whose ``last_checkpoint`` names its own file."""
    shutil.copytree(src, dst)
    (dst / 'last_checkpoint').write_text(str(dst / f'iter_{STOP_AT}.pth'))
    return dst


def test_resume_latest_matches_uninterrupted_run(trained_run, interrupted_run,
                                                 image_root, tmp_path):
    work_dir = _copy_run(interrupted_run, tmp_path / 'work')

    proc = run_tool(
        train_cmd(work_dir, '--resume', *data_options(image_root)), cwd=tmp_path)
    assert re.search(rf'resumed from the latest checkpoint \S*iter_{STOP_AT}\.pth',
                     proc.stdout)
    assert f'resumed epoch: 0, iter: {STOP_AT}' in proc.stdout
    assert last_checkpoint(work_dir).endswith(f'iter_{MAX_ITERS}.pth')
    assert checkpoints(work_dir) == sorted(f'iter_{i}.pth'
                                           for i in range(CKPT_INTERVAL, MAX_ITERS +
                                                          1, CKPT_INTERVAL))

    reference = trained_run['work_dir']
    (reference_run, ) = run_dirs(reference)
    _interrupted, resumed = run_dirs(work_dir)
    _assert_continues_like(resumed, reference_run)
    _assert_same_weights(reference / f'iter_{MAX_ITERS}.pth',
                         work_dir / f'iter_{MAX_ITERS}.pth')


def test_resume_from_path_matches_uninterrupted_run(trained_run, image_root, tmp_path):
    reference = trained_run['work_dir']
    work_dir = tmp_path / 'work'
    proc = run_tool(
        train_cmd(work_dir, '--resume', reference / f'iter_{STOP_AT}.pth',
                  *data_options(image_root)),
        cwd=tmp_path)
    assert f'resumed epoch: 0, iter: {STOP_AT}' in proc.stdout
    (reference_run, ) = run_dirs(reference)
    (resumed, ) = run_dirs(work_dir)
    _assert_continues_like(resumed, reference_run)
    _assert_same_weights(reference / f'iter_{MAX_ITERS}.pth',
                         work_dir / f'iter_{MAX_ITERS}.pth')


def _tiny_cfg(image_root):
    from mmengine.config import Config
    cfg = Config.fromfile(TINY_CFG)
    cfg.merge_from_dict({
        f'{loader}.dataset.data_root': str(image_root)
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    })
    return cfg


def _assert_state_equal(model_state, ckpt_state, prefix=''):
    keys = [k for k in ckpt_state if k.startswith(prefix)]
    assert keys
    for key in keys:
        torch.testing.assert_close(
            model_state[key[len(prefix):]],
            ckpt_state[key],
            rtol=0,
            atol=0,
            msg=lambda m: f'{key}: {m}')


def _differs(model_state, ckpt_state, prefix=''):
    return any(not torch.equal(model_state[k[len(prefix):]], v)
               for k, v in ckpt_state.items() if k.startswith(prefix))


@pytest.fixture
def restore_default_scope():
    """Undo the default scope a Runner built in this process sets globally."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # restores on exit
        yield


def test_load_from_full_training_checkpoint(trained_run, image_root, tmp_path,
                                            restore_default_scope):
    from mmengine.runner import Runner
    ckpt = trained_run['work_dir'] / f'iter_{MAX_ITERS}.pth'
    ckpt_state = torch.load(ckpt)['state_dict']

    cfg = _tiny_cfg(image_root)
    cfg.launcher = 'none'
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = str(ckpt)
    runner = Runner.from_cfg(cfg)
    assert _differs(runner.model.state_dict(), ckpt_state)  # fresh weights before
    runner.load_or_resume()  # what runner.train() / runner.test() start with
    _assert_state_equal(runner.model.state_dict(), ckpt_state)
    assert runner.iter == 0  # load_from loads weights only; it does not resume


@pytest.mark.parametrize('level', ['model', 'backbone'])
def test_init_cfg_pretrained_from_full_training_checkpoint(trained_run, image_root,
                                                           level):
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)  # mmpretrain's MODELS builds
    ckpt = str(trained_run['work_dir'] / f'iter_{MAX_ITERS}.pth')
    ckpt_state = torch.load(ckpt)['state_dict']

    cfg = _tiny_cfg(image_root)
    if level == 'model':
        cfg.model.init_cfg = dict(type='Pretrained', checkpoint=ckpt)
        prefix = ''
    else:
        cfg.model.backbone.init_cfg = dict(
            type='Pretrained', checkpoint=ckpt, prefix='backbone.')
        prefix = 'backbone.'
    model = MODELS.build(cfg.model)
    target = model if level == 'model' else model.backbone
    assert _differs(target.state_dict(), ckpt_state, prefix)
    model.init_weights()
    _assert_state_equal(target.state_dict(), ckpt_state, prefix)
