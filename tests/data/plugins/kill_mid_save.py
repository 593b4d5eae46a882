"""Test plugin: the training process kills itself (SIGKILL, as ``kill -9`` would) in
the middle of saving the checkpoint of iteration ``at_iter``.

* ``KillWhileSerialisingHook(at_iter)``: adds an object to the checkpoint's ``meta``
  whose pickling kills the process, so the kill lands inside ``torch.save``, after
  the checkpoint hook has decided which checkpoints to keep and before any byte of
  the new file is written.
* ``backend_args=dict(backend='kill_after_write', at_iter=...)``: the checkpoint
  backend writes the file completely (atomically) and then kills the process, before
  ``last_checkpoint`` is updated and before the oldest checkpoint is removed.

Used by tests/test_tools/test_kill_mid_save.py through ``custom_imports`` with this
folder on ``PYTHONPATH``.
"""
import os
import os.path as osp
import re
import signal

from mmengine.fileio import register_backend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from colorssl.utils.atomic_backend import AtomicLocalBackend


def _kill_now():
    os.kill(os.getpid(), signal.SIGKILL)


class _KillOnPickle:

    def __reduce__(self):
        _kill_now()


@HOOKS.register_module()
class KillWhileSerialisingHook(Hook):

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if checkpoint['meta'].get('iter') == self.at_iter:
            checkpoint['meta']['kill_on_pickle'] = _KillOnPickle()


class KillAfterWriteBackend(AtomicLocalBackend):

    def __init__(self, at_iter: int, **kwargs):
        super().__init__(**kwargs)
        self.at_iter = at_iter

    def put(self, obj: bytes, filepath) -> None:
        super().put(obj, filepath)
        match = re.match(r'^iter_(\d+)\.pth$', osp.basename(str(filepath)))
        if match and int(match.group(1)) == self.at_iter:
            _kill_now()


register_backend('kill_after_write', KillAfterWriteBackend, force=True)
