"""colorssl.utils.cpu_dist: torchrun jobs on machines without a GPU (in process).

The two-process run through ``tools/dist_train.sh`` is in
tests/test_tools/test_dist_train.py; these check the decisions one by one.
"""
import socket

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from colorssl.utils.cpu_dist import prepare_cpu_distributed


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


@pytest.fixture
def torchrun_env(monkeypatch):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    for key, value in dict(
            RANK='0',
            LOCAL_RANK='0',
            WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_not_distributed_changes_nothing(no_cuda):
    cfg = Config(dict(launcher='none'))
    assert prepare_cpu_distributed(cfg, 'cfg.py') is False
    assert 'model_wrapper_cfg' not in cfg and not dist.is_initialized()


def test_with_gpu_changes_nothing(monkeypatch, torchrun_env):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = Config(dict(launcher='pytorch'))
    assert prepare_cpu_distributed(cfg, 'cfg.py') is False
    assert 'model_wrapper_cfg' not in cfg and not dist.is_initialized()


def test_missing_torchrun_env_is_explained(no_cuda, monkeypatch):
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match=r'configs/x\.py.*dist_train\.sh'):
        prepare_cpu_distributed(Config(dict(launcher='pytorch')), 'configs/x.py')


def test_starts_gloo_group_and_cpu_ddp_wrapper(no_cuda, torchrun_env):
    # A stock config asks for nccl; without a GPU only gloo can run.
    cfg = Config(
        dict(
            launcher='pytorch',
            find_unused_parameters=True,
            env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    assert prepare_cpu_distributed(cfg, 'cfg.py') is True
    assert dist.is_initialized() and dist.get_backend() == 'gloo'
    assert dist.get_world_size() == 1 and dist.get_rank() == 0
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=True)

    # The wrapper mmengine builds from it accepts a CPU model.
    from mmengine.registry import MODEL_WRAPPERS
    model = torch.nn.Linear(2, 1)
    wrapped = MODEL_WRAPPERS.build(
        cfg.model_wrapper_cfg, default_args=dict(module=model, device_ids=[0]))
    assert wrapped.module is model

    # A second call (e.g. test after train in one process) keeps the group.
    assert prepare_cpu_distributed(Config(dict(launcher='pytorch')), 'cfg.py') is False


def test_existing_ddp_wrapper_cfg_gets_cpu_device_ids(no_cuda, torchrun_env):
    cfg = Config(
        dict(
            launcher='pytorch',
            model_wrapper_cfg=dict(
                type='MMDistributedDataParallel', find_unused_parameters=True)))
    prepare_cpu_distributed(cfg, 'cfg.py')
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', find_unused_parameters=True, device_ids=None)
