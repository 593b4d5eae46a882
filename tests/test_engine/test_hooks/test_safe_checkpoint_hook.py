"""SafeCheckpointHook: the old checkpoint goes only after the new one is saved and
loads, on a toy model trained by mmengine's Runner in this process (a real kill -9 is
in tests/test_tools/test_kill_mid_save.py)."""
import os
import uuid

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import LocalBackend
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import Dataset

import colorssl  # noqa: F401  (registers SafeCheckpointHook)


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


class RisingScore(BaseMetric):
    """``score`` = 1, 2, 3 ... at successive validations: every one is the best."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.calls += 1
        return dict(score=float(self.calls))


def _runner(work_dir,
            max_iters,
            resume=False,
            load_from=None,
            hook='SafeCheckpointHook',
            validate=False,
            **hook_args):
    hook = dict(type=hook, interval=2, by_epoch=False)
    hook.update(hook_args)
    val = dict(
        val_dataloader=dict(
            dataset=ToyDataset(4),
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        val_evaluator=[RisingScore()],
        val_cfg=dict()) if validate else {}
    return Runner(
        **val,
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            batch_size=2,
            num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=2),
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


def _fail_at_iter_4(monkeypatch, error, name='iter_4.pth'):
    """LocalBackend writes half of ``name``, then raises ``error`` (None: no error,
    the half file stays as if the disk returned garbage)."""
    real_put = LocalBackend.put

    def put(self, obj, filepath):
        if os.path.basename(str(filepath)) != name:
            return real_put(self, obj, filepath)
        real_put(self, obj[:len(obj) // 2], filepath)
        if error is not None:
            raise error

    monkeypatch.setattr(LocalBackend, 'put', put)


def test_keeps_what_the_stock_hook_keeps(tmp_path):
    for hook in ('CheckpointHook', 'SafeCheckpointHook'):
        _runner(tmp_path / hook, max_iters=6, hook=hook, max_keep_ckpts=2).train()
        files = ['iter_4.pth', 'iter_6.pth', 'last_checkpoint']
        assert _files(tmp_path / hook) == files
        record = (tmp_path / hook / 'last_checkpoint').read_text()
        assert record == str(tmp_path / hook / 'iter_6.pth')


@pytest.mark.parametrize('hook', ['CheckpointHook', 'SafeCheckpointHook'])
def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, hook):
    """A full disk half-way through iter_4.pth with max_keep_ckpts=1: the stock hook
    has already removed iter_2.pth; the safe one keeps it and last_checkpoint names
    it."""
    _fail_at_iter_4(monkeypatch, OSError(28, 'No space left on device'))
    with pytest.raises(OSError, match='No space left'):
        _runner(tmp_path, max_iters=6, hook=hook, max_keep_ckpts=1).train()
    if hook == 'CheckpointHook':
        assert _files(tmp_path) == ['iter_4.pth', 'last_checkpoint']
        return
    assert _files(tmp_path) == ['iter_2.pth', 'iter_4.pth', 'last_checkpoint']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert _weights(tmp_path / 'iter_2.pth')


def test_a_saved_checkpoint_that_does_not_load_stops_the_run(tmp_path, monkeypatch):
    _fail_at_iter_4(monkeypatch, None)
    with pytest.raises(RuntimeError, match=r'iter_4.pth, does not load'):
        _runner(tmp_path, max_iters=6, max_keep_ckpts=1).train()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert _weights(tmp_path / 'iter_2.pth')


def test_resume_ends_like_the_uninterrupted_run(tmp_path):
    reference = tmp_path / 'reference'
    _runner(reference, max_iters=6, max_keep_ckpts=1).train()
    work = tmp_path / 'work'
    _runner(work, max_iters=4, max_keep_ckpts=1).train()
    _runner(work, max_iters=6, resume=True, max_keep_ckpts=1).train()
    assert _files(work) == ['iter_6.pth', 'last_checkpoint']
    ref, got = _weights(reference / 'iter_6.pth'), _weights(work / 'iter_6.pth')
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], rtol=0, atol=0)


def test_out_dir_as_in_mmengine(tmp_path):
    """With ``out_dir`` checkpoints go to ``out_dir/<work_dir name>``."""
    work, out = tmp_path / 'work', tmp_path / 'elsewhere'
    _runner(work, max_iters=4, out_dir=str(out), max_keep_ckpts=1).train()
    assert _files(out / 'work') == ['iter_4.pth']
    assert (work / 'last_checkpoint').read_text() == str(out / 'work' / 'iter_4.pth')


@pytest.mark.parametrize('hook', ['CheckpointHook', 'SafeCheckpointHook'])
def test_failed_best_save_keeps_the_previous_best(tmp_path, monkeypatch, hook):
    """``save_best``: a full disk half-way through the new best checkpoint. The stock
    hook has already removed the previous best; the safe one keeps it, and removes it
    once a new best is saved."""
    _fail_at_iter_4(monkeypatch, OSError(28, 'No space left on device'),
                    'best_score_iter_4.pth')
    with pytest.raises(OSError, match='No space left'):
        _runner(
            tmp_path, 6, hook=hook, validate=True, save_best='score',
            rule='greater').train()
    best = sorted(n for n in os.listdir(tmp_path) if n.startswith('best_'))
    if hook == 'CheckpointHook':
        assert best == ['best_score_iter_4.pth']
        return
    assert best == ['best_score_iter_2.pth', 'best_score_iter_4.pth']
    assert _weights(tmp_path / 'best_score_iter_2.pth')
    monkeypatch.undo()
    work = tmp_path / 'fine'
    _runner(work, 6, validate=True, save_best='score', rule='greater').train()
    best = sorted(n for n in os.listdir(work) if n.startswith('best_'))
    assert best == ['best_score_iter_6.pth']
