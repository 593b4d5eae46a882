"""Test plugin: ``tools/dist_train.sh`` / ``dist_test.sh`` on a machine without a GPU.

mmengine 0.10.7 starts a ``--launcher pytorch`` job with ``torch.cuda.set_device``
and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; neither works on CPU.
Imported through a config's ``custom_imports`` (``Config.fromfile`` imports it before
the runner is built), this module creates the gloo process group from torchrun's
environment, so the runner skips its own ``init_dist``, and destroys it at exit after
a barrier (a gloo group left to the interpreter's exit can abort a rank). The config
also needs ``model_wrapper_cfg = dict(type='MMDistributedDataParallel',
device_ids=None, broadcast_buffers=False)``: mmengine's default DDP on CPU.

Used by tests/test_tools/test_dist_train.py with this folder on ``PYTHONPATH``.
"""
import atexit
import os

import torch
import torch.distributed as dist


def _close() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


if ('WORLD_SIZE' in os.environ and not torch.cuda.is_available()
        and not dist.is_initialized()):
    dist.init_process_group(backend='gloo')  # env://: RANK, WORLD_SIZE, MASTER_*
    atexit.register(_close)
