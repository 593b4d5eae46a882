"""SafeCheckpointHook: atomic checkpoint writes and the resume fallback, on a toy model
trained by mmengine's Runner in this process (the tool-level tests are in
tests/test_tools/test_resume_and_load.py)."""
import os
import uuid

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import Dataset

import colorssl  # noqa: F401  (registers SafeCheckpointHook)
from colorssl.utils import atomic_io


class ToyModel(BaseModel):
    """y = w x + b on 4-d inputs; loss = mean squared error to the target."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((pred[:, 0] - targets)**2).mean())
        return pred


class ToyDataset(Dataset):

    def __init__(self, n=8):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=gen)
        self.y = self.x.sum(1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


@pytest.fixture(autouse=True)
def restore_default_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def _runner(work_dir, max_iters, resume=False, load_from=None, **hook_args):
    hook = dict(type='SafeCheckpointHook', interval=2, by_epoch=False)
    hook.update(hook_args)
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            batch_size=2,
            num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        log_processor=dict(by_epoch=False),
        default_hooks=dict(checkpoint=hook, logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmpretrain',
        experiment_name=f'toy_{uuid.uuid4().hex}',  # a fresh logger per runner
        resume=resume,
        load_from=load_from,
        randomness=dict(seed=0))


def _files(folder):
    """Checkpoints, last_checkpoint and temporary files (not the run folders and the
    config dump)."""
    return sorted(
        n for n in os.listdir(folder)
        if n.endswith(('.pth', '.tmp')) or n == 'last_checkpoint')


def _weights(path):
    return torch.load(path)['state_dict']


def test_saves_atomically_and_keeps_max(tmp_path, monkeypatch):
    replaced = []
    real_replace = atomic_io.os.replace

    def recording_replace(src, dst):
        replaced.append(os.path.basename(dst))
        real_replace(src, dst)

    monkeypatch.setattr(atomic_io.os, 'replace', recording_replace)
    _runner(tmp_path, max_iters=6, max_keep_ckpts=2).train()
    assert replaced == [
        'iter_2.pth', 'last_checkpoint', 'iter_4.pth', 'last_checkpoint', 'iter_6.pth',
        'last_checkpoint'
    ]
    assert _files(tmp_path) == ['iter_4.pth', 'iter_6.pth', 'last_checkpoint']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_6.pth')


def test_crash_while_saving_keeps_previous_checkpoint(tmp_path, monkeypatch):
    real_replace = atomic_io.os.replace

    def disk_full_at_iter_4(src, dst):
        if dst.endswith('iter_4.pth'):
            raise OSError(28, 'No space left on device')
        real_replace(src, dst)

    monkeypatch.setattr(atomic_io.os, 'replace', disk_full_at_iter_4)
    with pytest.raises(OSError, match='No space left'):
        _runner(tmp_path, max_iters=6).train()
    # no partial iter_4.pth, no temporary file
    assert _files(tmp_path) == ['iter_2.pth', 'last_checkpoint']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')


def test_stale_temp_files_are_removed(tmp_path):
    stale = tmp_path / '.iter_4.pth.abc123.tmp'
    stale.write_bytes(b'half a checkpoint')
    other = tmp_path / '.notes.txt.abc123.tmp'  # not ours: kept
    other.write_bytes(b'x')
    _runner(tmp_path, max_iters=2).train()
    assert not stale.exists() and other.exists()


@pytest.mark.parametrize('damage',
                         ['truncate', 'delete', 'garbage_record', 'no_record'])
def test_resume_falls_back_to_newest_good_checkpoint(tmp_path, damage):
    reference = tmp_path / 'reference'
    _runner(reference, max_iters=6).train()

    work = tmp_path / 'work'
    _runner(work, max_iters=4).train()  # interrupted after iter_4
    if damage == 'truncate':
        data = (work / 'iter_4.pth').read_bytes()
        (work / 'iter_4.pth').write_bytes(data[:len(data) // 3])
        expected_start = 2
    elif damage == 'delete':
        (work / 'iter_4.pth').unlink()
        expected_start = 2
    elif damage == 'garbage_record':
        (work / 'last_checkpoint').write_bytes(b'\xff\xfe\x00garbage')
        expected_start = 4
    else:
        (work / 'last_checkpoint').unlink()
        expected_start = 4

    runner = _runner(work, max_iters=6, resume=True)
    runner.train()
    # the resumed run trained iterations expected_start+1..6 and ends like the
    # uninterrupted run, bit for bit (same data order, same float operations)
    text = sorted(work.glob('*/*.log'))[-1].read_text()  # the resumed run's log
    assert f'resumed epoch: 0, iter: {expected_start}' in text
    assert f'resuming from {work / f"iter_{expected_start}.pth"} instead' in text
    ref, got = _weights(reference / 'iter_6.pth'), _weights(work / 'iter_6.pth')
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], rtol=0, atol=0)


def test_resume_without_any_checkpoint_starts_afresh(tmp_path):
    runner = _runner(tmp_path, max_iters=2, resume=True)
    runner.train()
    assert runner.iter == 2


def test_nothing_loads_raises(tmp_path):
    _runner(tmp_path, max_iters=4).train()
    for name in ('iter_2.pth', 'iter_4.pth'):
        (tmp_path / name).write_bytes(b'')
    with pytest.raises(RuntimeError, match=r"none of \['iter_2.pth'\]"):
        _runner(tmp_path, max_iters=6, resume=True).train()


@pytest.mark.parametrize('resume', [True, False])
def test_damaged_load_from_names_the_file(tmp_path, resume):
    _runner(tmp_path / 'a', max_iters=2).train()
    ckpt = tmp_path / 'a' / 'iter_2.pth'
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    action = 'resume from' if resume else r'load \(load_from\)'
    with pytest.raises(
            RuntimeError, match=rf'cannot {action} checkpoint {ckpt}: not a complete'):
        _runner(tmp_path / 'b', max_iters=4, resume=resume, load_from=str(ckpt)).train()


def test_out_dir_is_kept_and_searched(tmp_path):
    """With ``out_dir`` mmengine saves to ``out_dir/<work_dir name>``; the atomic
    backend keeps that, and the fallback searches there."""
    work, out = tmp_path / 'work', tmp_path / 'elsewhere'
    _runner(work, max_iters=4, out_dir=str(out)).train()
    saved = out / 'work'
    assert _files(saved) == ['iter_2.pth', 'iter_4.pth']
    assert (work / 'last_checkpoint').read_text() == str(saved / 'iter_4.pth')
    (saved / 'iter_4.pth').write_bytes(b'')
    runner = _runner(work, max_iters=6, resume=True, out_dir=str(out))
    runner.train()
    text = sorted(work.glob('*/*.log'))[-1].read_text()
    assert 'empty file (0 bytes)' in text
    assert f'resuming from {saved / "iter_2.pth"} instead' in text
    assert _files(saved) == ['iter_2.pth', 'iter_4.pth', 'iter_6.pth']
