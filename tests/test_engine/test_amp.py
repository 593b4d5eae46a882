"""Mixed-precision training steps of the colorization and HNC models.

mmengine 0.10.7's ``AmpOptimWrapper`` asserts a GPU; on CPU colorssl's
``CPUAmpOptimWrapper`` runs the same code path (the forward of ``train_step`` inside
the wrapper's ``optim_context``, under bfloat16 autocast; backward and step
outside). The CUDA test runs the real ``AmpOptimWrapper`` (fp16, dynamic loss
scale); benchmarks/gpu_check.sh runs it.

Checked: the logits reach the colour loss in the low precision (autocast is on), the
log-probabilities that the soft-encoded loss gathers are float32, the losses are
float32, finite and close to the float32 computation of the same step, the weights
move.
"""
import contextlib
import importlib

import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401  (registers the models)
from colorssl.color import DEFAULT_PRIOR
from colorssl.engine.optimizers import CPUAmpOptimWrapper

COLOR_MODEL = dict(
    type='Colorization',
    data_preprocessor=dict(type='ColorizationDataPreprocessor', channel_order='rgb'),
    backbone=dict(type='ColorizationNet', base_channels=8),
    head=dict(type='ColorizationHead', in_channels=32, prior=DEFAULT_PRIOR))
HNC_MODEL = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=10, mean=[125.3, 123.0, 113.9], std=[51.6, 50.8, 51.3],
        to_rgb=True),
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        stem_channels=8,
        base_channels=8),
    head=dict(
        type='HNCLinearClsHead',
        num_classes=10,
        in_channels=32,
        loss=dict(type='CrossEntropyLoss'),
        hnc_loss=dict(type='HNCLoss', k=3, mode='kd', loss_weight=0.5)))


def _batch(kind, n=4, size=32):
    g = torch.Generator().manual_seed(0)
    samples = [DataSample() for _ in range(n)]
    if kind == 'hnc':
        for i, s in enumerate(samples):
            s.set_gt_label(i % 10)
    return dict(
        inputs=torch.randint(
            0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
        data_samples=samples)


@contextlib.contextmanager
def _recorded_dtypes(model):
    """dtypes of the colour loss's logits, of the log-probs soft_target_nll gets and
    of every loss the head returns."""
    seen = {'logits': [], 'log_prob': []}
    handles = []
    loss_module = getattr(model.head, 'loss_module', None)
    mcl = importlib.import_module('colorssl.models.losses.multinomial_color_loss')
    original = mcl.soft_target_nll
    if loss_module is not None:
        handles.append(
            loss_module.register_forward_pre_hook(
                lambda m, args: seen['logits'].append(args[0].dtype)))

    def recording(log_prob, *args, **kwargs):
        seen['log_prob'].append(log_prob.dtype)
        return original(log_prob, *args, **kwargs)

    mcl.soft_target_nll = recording
    try:
        yield seen
    finally:
        mcl.soft_target_nll = original
        for h in handles:
            h.remove()


def _fp32_losses(model, data):
    """The float32 losses of ``data`` (no autocast, no update)."""
    with torch.no_grad():
        processed = model.data_preprocessor(data, True)
        losses = model(**processed, mode='loss')
    return {k: float(v) for k, v in losses.items() if k.startswith('loss')}


def _amp_step(kind, device, wrapper_factory, low_dtype):
    torch.manual_seed(0)
    model = MODELS.build(COLOR_MODEL if kind == 'color' else HNC_MODEL)
    model.init_weights()
    model = model.to(device).train()
    data = _batch(kind)
    reference = _fp32_losses(model, data)
    before = [p.detach().clone() for p in model.parameters()]
    wrapper = wrapper_factory(torch.optim.SGD(model.parameters(), lr=0.01))
    with _recorded_dtypes(model) as seen:
        log_vars = model.train_step(data, wrapper)
    losses = {k: v for k, v in log_vars.items() if k.startswith('loss')}
    assert losses.keys() == reference.keys()
    for name, value in losses.items():
        assert value.dtype == torch.float32, name
        assert torch.isfinite(value), name
        # Measured on CPU (bf16): 2e-5 (colour) and 8e-6 (HNC) relative; targets
        # in bf16 (ab through a bf16 matmul) or bf16 log-probs would miss this.
        assert float(value) == pytest.approx(reference[name], rel=1e-3), name
    if kind == 'color':
        assert seen['logits'] == [low_dtype]  # autocast reached the head
        assert seen['log_prob'] == [torch.float32]  # but not the soft-encoded loss
    else:
        assert 'loss_hnc' in losses
    after = list(model.parameters())
    moved = [not torch.equal(a, b.detach()) for a, b in zip(before, after)]
    assert any(moved)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize('kind', ['color', 'hnc'])
def test_bf16_autocast_train_step_cpu(kind):
    _amp_step(kind, torch.device('cpu'), lambda opt: CPUAmpOptimWrapper(optimizer=opt),
              torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('kind', ['color', 'hnc'])
def test_amp_optim_wrapper_fp16_cuda(kind):
    from mmengine.optim import AmpOptimWrapper
    _amp_step(
        kind, torch.device('cuda'), lambda opt: AmpOptimWrapper(
            optimizer=opt, dtype='float16', loss_scale='dynamic'), torch.float16)
