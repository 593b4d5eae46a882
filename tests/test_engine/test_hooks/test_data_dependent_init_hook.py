"""DataDependentInitHook with a stand-in runner: every rescaled layer's output on the
batch has zero mean and unit variance per channel, measured with numpy."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import HOOKS, MODELS

import colorssl  # noqa: F401
from colorssl.engine.hooks.data_dependent_init_hook import channel_stats, rescale_layer


def colorization_model(affine=False):
    return MODELS.build(
        dict(
            type='Colorization',
            backbone=dict(
                type='ColorizationNet',
                base_channels=8,
                norm_cfg=dict(type='BN', affine=affine)),
            head=dict(type='ColorizationHead', in_channels=32, prior=None)))


def photo_batch(n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    # smooth, photo-like images: a few large colour blobs
    images = np.repeat(np.repeat(images[:, :, ::8, ::8], 8, 2), 8, 3)
    return dict(inputs=[torch.from_numpy(i.copy()) for i in images])


def outputs_of(model, layers, batch):
    data = model.data_preprocessor(batch, True)
    seen = {}  # clones: the in-place ReLU after each conv changes its output
    handles = [
        m.register_forward_hook(
            lambda mod, a, out, n=n: seen.__setitem__(n, out.clone()))
        for n, m in layers
    ]
    with torch.no_grad():
        model(data['inputs'], data['data_samples'], mode='tensor')
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize('affine', [False, True])
def test_every_layer_zero_mean_unit_variance_on_the_batch(affine):
    torch.manual_seed(0)
    model = colorization_model(affine)
    model.init_weights()
    batch = photo_batch()
    runner = SimpleNamespace(
        model=model, train_dataloader=[batch], _resume=False, _load_from=None)
    hook = HOOKS.build(dict(type='DataDependentInitHook'))
    hook.before_train(runner)
    layers = [(n, m) for n, m in model.backbone.named_modules()
              if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(layers) == 22  # the paper's network: 22 convs
    model.train()
    for name, out in outputs_of(model, layers, batch).items():
        x = out.double().numpy().transpose(1, 0, 2, 3).reshape(out.size(1), -1)
        np.testing.assert_allclose(x.mean(1), 0, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(x.std(1), 1, atol=1e-3, err_msg=name)
    # the head was not selected: its 1x1 conv keeps its init
    assert 'head' not in hook.modules


def test_nothing_changes_when_weights_come_from_a_checkpoint():
    torch.manual_seed(0)
    model = colorization_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hook = HOOKS.build(dict(type='DataDependentInitHook'))
    for resume, load_from in ((True, None), (False, 'x.pth')):
        runner = SimpleNamespace(
            model=model,
            train_dataloader=[photo_batch()],
            _resume=resume,
            _load_from=load_from)
        hook.before_train(runner)
        for k, v in model.state_dict().items():
            assert torch.equal(v, before[k]), k


def test_rescale_layer_against_numpy():
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1)
    x = torch.randn(4, 3, 6, 6)
    y = conv(x).detach().numpy()
    rescale_layer(conv, channel_stats(conv(x)))
    z = conv(x).detach().numpy()
    mean = y.mean((0, 2, 3), keepdims=True)
    std = y.std((0, 2, 3), keepdims=True)
    np.testing.assert_allclose(z, (y - mean) / std, rtol=1e-4, atol=1e-5)


def test_bad_arguments_name_the_key():
    with pytest.raises(ValueError, match='layer_types'):
        HOOKS.build(dict(type='DataDependentInitHook', layer_types=['Conv3d']))
    with pytest.raises(ValueError, match='modules'):
        hook = HOOKS.build(dict(type='DataDependentInitHook', modules=('nek', )))
        hook.before_train(
            SimpleNamespace(
                model=colorization_model(),
                train_dataloader=[photo_batch()],
                _resume=False,
                _load_from=None))
