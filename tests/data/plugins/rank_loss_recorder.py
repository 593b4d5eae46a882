"""Test plugin: every rank writes its own training losses to
``work_dir/losses_rank<r>.json`` (mmengine logs rank 0's only).

Used by tests/test_tools/test_dist_train.py through ``custom_imports`` with this
folder on ``PYTHONPATH``.
"""
import json
import os.path as osp

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankLossRecorderHook(Hook):
    """Record ``{iteration: {loss name: value}}`` of this rank."""

    def before_train(self, runner) -> None:
        self.records = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.records[runner.iter + 1] = {k: float(v) for k, v in outputs.items()}

    def after_train(self, runner) -> None:
        path = osp.join(runner.work_dir, f'losses_rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(self.records, f)
