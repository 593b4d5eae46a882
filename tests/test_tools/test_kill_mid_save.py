"""A run killed (SIGKILL) in the middle of saving a checkpoint, with
``max_keep_ckpts=1``, leaves a checkpoint that loads, and ``--resume`` finishes the
schedule with the weights of the uninterrupted run (SafeCheckpointHook writes the new
checkpoint before it removes the old one).

The kill comes from tests/data/plugins/kill_mid_save.py at iteration KILL_AT: inside
``torch.save`` (before the new file exists), half-way through writing the new file,
or after the new file is written but before ``last_checkpoint`` names it.
"""
import os
import signal

import pytest
import torch
from tool_helpers import (CKPT_INTERVAL, MAX_ITERS, REPO_ROOT, TINY_CFG, checkpoints,
                          data_options, last_checkpoint, run_tool, tool_env, train_cmd)

import colorssl  # noqa: F401  (weights-only loading of mmengine checkpoints)

KILL_AT = 4
assert KILL_AT % CKPT_INTERVAL == 0 and CKPT_INTERVAL < KILL_AT < MAX_ITERS
PLUGINS = REPO_ROOT / 'tests' / 'data' / 'plugins'


def _env():
    env = tool_env()
    env['PYTHONPATH'] = os.pathsep.join([str(PLUGINS), env['PYTHONPATH']])
    return env


def _config(folder, where):
    """TINY_CFG with max_keep_ckpts=1 and the kill of ``where``."""
    lines = [
        f'_base_ = {str(TINY_CFG)!r}',
        "custom_imports = dict(imports=['colorssl', 'kill_mid_save'], "
        'allow_failed_imports=False)',
    ]
    if where == 'serialising':
        lines += [
            'default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))',
            "custom_hooks = [dict(type='KillWhileSerialisingHook', "
            f'at_iter={KILL_AT})]',
        ]
    else:
        lines.append('default_hooks = dict(checkpoint=dict(max_keep_ckpts=1, '
                     f"backend_args=dict(backend='kill_{where}', "
                     f'at_iter={KILL_AT})))')
    path = folder / f'killed_{where}.py'
    path.write_text('\n'.join(lines) + '\n')
    return path


@pytest.mark.parametrize('where', ['serialising', 'mid_write', 'after_write'])
def test_kill_mid_save_keeps_a_checkpoint_and_resume_finishes(
        trained_run, image_root, tmp_path, where):
    config = _config(tmp_path, where)
    work_dir = tmp_path / 'work'
    proc = run_tool(
        train_cmd(work_dir, *data_options(image_root), config=config),
        cwd=tmp_path,
        env=_env(),
        expect_ok=False)
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-3000:]

    # What a user finds after the kill: last_checkpoint names a checkpoint that loads.
    kept = checkpoints(work_dir)
    assert kept, f'no checkpoint left after the kill: {os.listdir(work_dir)}'
    named = last_checkpoint(work_dir)
    torch.load(named, map_location='cpu', weights_only=True)  # it loads
    assert named.endswith(f'iter_{CKPT_INTERVAL}.pth')

    # Resume without the kill: same config keys otherwise.
    resumed = tmp_path / 'resume.py'
    resumed.write_text(f'_base_ = {str(config)!r}\ncustom_hooks = []\n'
                       'default_hooks = dict(checkpoint=dict(backend_args=None))\n')
    run_tool(
        train_cmd(work_dir, '--resume', *data_options(image_root), config=resumed),
        cwd=tmp_path,
        env=_env())
    assert last_checkpoint(work_dir).endswith(f'iter_{MAX_ITERS}.pth')
    assert checkpoints(work_dir) == [f'iter_{MAX_ITERS}.pth']  # max_keep_ckpts=1
    assert not [n for n in os.listdir(work_dir) if n.endswith('.tmp')]

    ours = torch.load(work_dir / f'iter_{MAX_ITERS}.pth', weights_only=True)
    reference = torch.load(
        trained_run['work_dir'] / f'iter_{MAX_ITERS}.pth', weights_only=True)
    assert ours['meta']['iter'] == MAX_ITERS
    for key, value in reference['state_dict'].items():
        torch.testing.assert_close(
            ours['state_dict'][key], value, msg=lambda m: f'{key}: {m}')
