"""Let ``tools/dist_train.sh`` / ``dist_test.sh`` run on machines without a GPU.

mmengine 0.10.7 assumes CUDA when it starts a torchrun (``--launcher pytorch``) job:
``init_dist`` calls ``torch.cuda.set_device(LOCAL_RANK)`` before creating the process
group, and ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to
``DistributedDataParallel``, which CPU modules reject. On a CPU-only machine
:func:`prepare_cpu_distributed` therefore

1. creates the process group itself with the ``gloo`` backend (``nccl`` needs GPUs),
   so the runner finds it initialised and skips ``init_dist``;
2. sets ``model_wrapper_cfg.device_ids=None`` so DDP wraps the CPU model.

With a GPU, or without a distributed launcher, it changes nothing.
"""
import datetime
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

_TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def prepare_cpu_distributed(cfg: Config, filename: str) -> bool:
    """Start a gloo process group for a CPU-only torchrun job.

    Args:
        cfg (Config): the run's config; ``cfg.launcher`` is read and
            ``cfg.model_wrapper_cfg`` may be set.
        filename (str): the config file, named in errors.

    Returns:
        bool: True when this function started the process group.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    missing = [key for key in _TORCHRUN_ENV if key not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the torchrun environment variables '
            f'{missing}; start {filename} with tools/dist_train.sh (or torchrun), '
            'not plain python')

    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    else:
        from mmengine.registry import MODEL_WRAPPERS
        from torch.nn.parallel import DistributedDataParallel
        wrapper_type = MODEL_WRAPPERS.get(
            wrapper.get('type', 'MMDistributedDataParallel'))
        if isinstance(wrapper_type, type) and issubclass(wrapper_type,
                                                         DistributedDataParallel):
            wrapper.setdefault('device_ids', None)

    if torch_dist.is_initialized():
        return False
    # Whatever ``env_cfg.dist_cfg.backend`` says (stock configs say nccl), only gloo
    # runs without a GPU; the timeout is honoured as mmengine would.
    dist_cfg = (cfg.get('env_cfg') or {}).get('dist_cfg') or {}
    kwargs = {}
    if dist_cfg.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    torch_dist.init_process_group(
        backend='gloo',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)
    return True


def close_distributed() -> None:
    """Wait for every rank, then destroy the default process group.

    Called by the tools after ``runner.train()`` / ``runner.test()``: a gloo group left
    to the interpreter's exit can abort a rank that is still tearing down its threads
    while the other rank has already closed the store.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
