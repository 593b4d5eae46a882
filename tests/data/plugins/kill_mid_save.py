"""Test plugin: the training process kills itself (SIGKILL, as ``kill -9`` would)
while it saves the checkpoint of iteration ``at_iter``.

* ``KillWhileSerialisingHook(at_iter)``: an object in the checkpoint's ``meta`` whose
  pickling kills the process, inside ``torch.save``, before the file is written.
* ``backend_args=dict(backend='kill_mid_write', at_iter=...)``: the file backend
  writes the first half of the checkpoint's bytes under its final name, then kills.
* ``backend_args=dict(backend='kill_after_write', at_iter=...)``: the file is written
  completely, then the process is killed before ``last_checkpoint`` names it.

Used by tests/test_tools/test_kill_mid_save.py with this folder on ``PYTHONPATH``.
"""
import os
import os.path as osp
import signal

from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


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


class _KillingBackend(LocalBackend):
    fraction = 1.0

    def __init__(self, at_iter: int, **kwargs):
        super().__init__(**kwargs)
        self.at_iter = at_iter

    def put(self, obj: bytes, filepath) -> None:
        if osp.basename(str(filepath)) != f'iter_{self.at_iter}.pth':
            return super().put(obj, filepath)
        super().put(obj[:int(len(obj) * self.fraction)], filepath)
        _kill_now()


class _KillMidWrite(_KillingBackend):
    fraction = 0.5


register_backend('kill_after_write', _KillingBackend, force=True)
register_backend('kill_mid_write', _KillMidWrite, force=True)
