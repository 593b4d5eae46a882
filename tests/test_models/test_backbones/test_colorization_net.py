"""Tests for ``ColorizationNet`` (the network of Zhang et al., ECCV 2016)."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import colorssl.models.backbones  # noqa: F401  (registers ColorizationNet)
from colorssl.models.backbones import ColorizationNet

# The paper's network (Fig. 2) and the released deploy prototxt, written out here
# independently of the module: (channels at width 64, number of convs, stride of the
# last conv, dilation, first layer is a 4x4 stride-2 deconv, BN after the block).
PAPER = [
    (64, 2, 2, 1, False, True),
    (128, 2, 2, 1, False, True),
    (256, 3, 2, 1, False, True),
    (512, 3, 1, 1, False, True),
    (512, 3, 1, 2, False, True),
    (512, 3, 1, 2, False, True),
    (512, 3, 1, 1, False, True),
    (256, 3, 1, 1, True, False),
]
DOWNSAMPLE = [2, 4, 8, 8, 8, 8, 8, 4]


def _convs(block):
    return [m for m in block if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def test_arch_settings_match_paper():
    settings = ColorizationNet.arch_settings(64)
    assert [s.name for s in settings] == [f'conv{i}' for i in range(1, 9)]
    got = [(s.channels, s.num_convs, s.stride, s.dilation, s.upsample, s.norm)
           for s in settings]
    assert got == PAPER
    # Width scales every block proportionally.
    assert [s.channels for s in ColorizationNet.arch_settings(16)] == \
        [c // 4 for c, *_ in PAPER]


@pytest.mark.parametrize('size', [(64, 64), (176, 176), (64, 96)])
def test_output_shapes(size):
    h, w = size
    model = ColorizationNet(base_channels=8, out_indices=tuple(range(8)))
    outs = model(torch.randn(2, 1, h, w))
    assert len(outs) == 8
    for out, (c, *_), r in zip(outs, PAPER, DOWNSAMPLE):
        assert out.shape == (2, c * 8 // 64, h // r, w // r)
    if size == (176, 176):  # the training crop gives the 44x44 prediction grid
        assert outs[-1].shape[-2:] == (44, 44)


def test_output_shape_not_divisible_by_8():
    # Strided convs round up; conv8 doubles conv7's size (documented behaviour).
    model = ColorizationNet(base_channels=8, out_indices=(0, 2, 7))
    outs = model(torch.randn(1, 1, 60, 52))
    assert outs[0].shape[-2:] == (30, 26)
    assert outs[1].shape[-2:] == (math.ceil(60 / 8), math.ceil(52 / 8))
    assert outs[2].shape[-2:] == (2 * math.ceil(60 / 8), 2 * math.ceil(52 / 8))


def _reference_forward(model, x):
    """Forward pass written with torch.nn.functional from the PAPER table, reusing the
    model's parameters (eval-mode BatchNorm)."""
    feats = []
    for i, (_, n_convs, stride, dil, upsample, has_norm) in enumerate(PAPER):
        params = [m for m in getattr(model, f'conv{i + 1}')]
        convs = [m for m in params if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert len(convs) == n_convs
        for j, conv in enumerate(convs):
            if upsample and j == 0:
                x = F.conv_transpose2d(x, conv.weight, conv.bias, stride=2, padding=1)
            else:
                s = stride if j == n_convs - 1 else 1
                x = F.conv2d(
                    x, conv.weight, conv.bias, stride=s, padding=dil, dilation=dil)
            x = F.relu(x)
        if has_norm:
            bn = params[-1]
            x = F.batch_norm(
                x,
                bn.running_mean,
                bn.running_var,
                bn.weight,
                bn.bias,
                training=False,
                eps=bn.eps)
        feats.append(x)
    return feats


def test_forward_matches_functional_reference():
    torch.manual_seed(0)
    model = ColorizationNet(base_channels=8, out_indices=tuple(range(8)))
    for m in model.modules():
        if isinstance(m, _BatchNorm):  # non-trivial statistics and affine terms
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    x = torch.randn(2, 1, 40, 48)
    with torch.no_grad():
        outs = model(x)
        ref = _reference_forward(model, x)
    for out, r in zip(outs, ref):
        torch.testing.assert_close(out, r, rtol=1e-4, atol=1e-5)


def test_layer_attributes_dilation_and_norm_placement():
    model = ColorizationNet(base_channels=8)
    for i, (_, n_convs, stride, dil, upsample, has_norm) in enumerate(PAPER):
        block = getattr(model, f'conv{i + 1}')
        assert isinstance(block, nn.Sequential)
        convs = _convs(block)
        assert len(convs) == n_convs
        for j, conv in enumerate(convs):
            if upsample and j == 0:
                assert isinstance(conv, nn.ConvTranspose2d)
                assert conv.kernel_size == (4, 4) and conv.stride == (2, 2)
                assert conv.padding == (1, 1)
                continue
            assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3)
            assert conv.dilation == (dil, dil) and conv.padding == (dil, dil)
            expected_stride = stride if j == n_convs - 1 else 1
            assert conv.stride == (expected_stride, expected_stride)
            assert conv.bias is not None
        if has_norm:
            assert isinstance(block[-1], _BatchNorm)
            assert isinstance(block[-2], nn.ReLU)  # BN after the last ReLU
        else:
            assert not any(isinstance(m, _BatchNorm) for m in block)
            assert isinstance(block[-1], nn.ReLU)
    assert model.conv5[0].dilation == (2, 2) and model.conv6[4].dilation == (2, 2)
    assert model.conv4[0].dilation == (1, 1) and model.conv7[0].dilation == (1, 1)


def test_state_dict_keys_are_readable():
    keys = ColorizationNet(base_channels=8).state_dict().keys()
    for key in [
            'conv1.0.weight', 'conv1.2.bias', 'conv1.4.running_mean', 'conv5.6.weight',
            'conv8.0.weight', 'conv8.4.bias'
    ]:
        assert key in keys
    # Released-model BatchNorm (no learnable affine): only running statistics.
    plain = ColorizationNet(base_channels=8, norm_cfg=dict(type='BN', affine=False))
    assert 'conv1.4.weight' not in plain.state_dict()
    assert 'conv1.4.running_var' in plain.state_dict()


def test_out_indices_selection():
    torch.manual_seed(0)
    full = ColorizationNet(base_channels=8, out_indices=tuple(range(8))).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        all_outs = full(x)
    for out_indices, expected in [((0, 4), (0, 4)), ((4, 0), (0, 4)), (2, (2, )),
                                  (-1, (7, )), ((1, -2), (1, 6))]:
        model = ColorizationNet(base_channels=8, out_indices=out_indices).eval()
        model.load_state_dict(full.state_dict())
        assert model.out_indices == expected
        assert model.out_channels == tuple(8 * [1, 2, 4, 8, 8, 8, 8, 4][i]
                                           for i in expected)
        with torch.no_grad():
            outs = model(x)
        assert isinstance(outs, tuple) and len(outs) == len(expected)
        for out, i in zip(outs, expected):
            torch.testing.assert_close(out, all_outs[i])


@pytest.mark.parametrize('kwargs, match', [
    (dict(out_indices=8), 'out_indices'),
    (dict(out_indices=(0, 9)), 'out_indices'),
    (dict(out_indices=-9), 'out_indices'),
    (dict(out_indices=()), 'out_indices'),
    (dict(out_indices=(7, -1)), 'duplicate'),
    (dict(out_indices=(1.0, )), 'out_indices'),
    (dict(in_channels=0), 'in_channels'),
    (dict(in_channels=1.5), 'in_channels'),
    (dict(in_channels=True), 'in_channels'),
    (dict(base_channels=0), 'base_channels'),
    (dict(frozen_stages=9), 'frozen_stages'),
    (dict(frozen_stages=-2), 'frozen_stages'),
    (dict(norm_cfg='BN'), 'norm_cfg'),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ColorizationNet(base_channels=kwargs.pop('base_channels', 8), **kwargs)


def test_wrong_input_shape():
    model = ColorizationNet(base_channels=8)
    with pytest.raises(ValueError, match=r'\(N, 1, H, W\)'):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match='got \\(1, 16, 16\\)'):
        model(torch.randn(1, 16, 16))
    rgb = ColorizationNet(in_channels=3, base_channels=8)
    assert rgb(torch.randn(1, 3, 16, 16))[0].shape == (1, 32, 4, 4)


def _bn_layers(block):
    return [m for m in block.modules() if isinstance(m, _BatchNorm)]


def test_frozen_stages():
    model = ColorizationNet(base_channels=8, frozen_stages=3)
    model.train()
    for i in range(1, 9):
        block = getattr(model, f'conv{i}')
        frozen = i <= 3
        assert all(p.requires_grad != frozen for p in block.parameters())
        for bn in _bn_layers(block):
            assert bn.training != frozen
    # Frozen BatchNorm statistics do not move in a training forward pass.
    before = model.conv2[-1].running_mean.clone()
    trainable_before = model.conv4[-1].running_mean.clone()
    model(torch.randn(2, 1, 32, 32) * 10 + 3)
    torch.testing.assert_close(model.conv2[-1].running_mean, before)
    assert not torch.allclose(model.conv4[-1].running_mean, trainable_before)

    everything = ColorizationNet(base_channels=8, frozen_stages=8).train()
    assert not any(p.requires_grad for p in everything.parameters())
    assert not any(bn.training for bn in _bn_layers(everything))
    nothing = ColorizationNet(base_channels=8, frozen_stages=0).train()
    assert all(p.requires_grad for p in nothing.parameters())


def test_norm_eval():
    model = ColorizationNet(base_channels=8, norm_eval=True)
    model.train()
    assert model.training
    assert not any(bn.training for bn in _bn_layers(model))
    assert all(p.requires_grad for p in model.parameters())
    model = ColorizationNet(base_channels=8, norm_eval=False).train()
    assert all(bn.training for bn in _bn_layers(model))


def _expected_num_params(base):
    """Count the parameters from the PAPER table by hand."""
    total, cin = 0, 1
    for c64, n_convs, _, _, upsample, has_norm in PAPER:
        c = c64 * base // 64
        for j in range(n_convs):
            k = 4 if upsample and j == 0 else 3
            total += (cin if j == 0 else c) * c * k * k + c
        if has_norm:
            total += 2 * c
        cin = c
    return total


@pytest.mark.parametrize('base', [8, 16, 64])
def test_base_channels_scaling(base):
    model = ColorizationNet(base_channels=base)
    assert sum(p.numel() for p in model.parameters()) == _expected_num_params(base)
    assert [_convs(getattr(model, f'conv{i}'))[-1].out_channels
            for i in range(1, 9)] == [c * base // 64 for c, *_ in PAPER]
    if base == 64:  # the paper's network: about 32M parameters
        assert 31e6 < _expected_num_params(64) < 33e6


def test_gradient_flows_to_every_parameter():
    torch.manual_seed(0)
    model = ColorizationNet(base_channels=8)
    model.init_weights()
    model.train()
    out, = model(torch.randn(2, 1, 32, 32))
    loss = (out - torch.randn_like(out)).pow(2).mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_init_weights_kaiming():
    torch.manual_seed(0)
    model = ColorizationNet(base_channels=16)
    model.init_weights()
    conv = model.conv4[2]  # 128 -> 128, 3x3
    fan_out = conv.out_channels * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.05)
    assert conv.weight.mean().abs().item() < 0.05 * math.sqrt(2 / fan_out)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            assert torch.count_nonzero(m.bias) == 0
        if isinstance(m, _BatchNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_build_from_registry():
    model = MODELS.build(
        dict(
            type='ColorizationNet',
            base_channels=8,
            out_indices=(2, 7),
            frozen_stages=1))
    assert isinstance(model, ColorizationNet)
    outs = model(torch.randn(1, 1, 32, 32))
    assert [o.shape for o in outs] == [(1, 32, 4, 4), (1, 32, 8, 8)]
    assert not any(p.requires_grad for p in model.conv1.parameters())
