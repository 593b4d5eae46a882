"""Colorization on stock mmpretrain backbones, each ``model.backbone`` taken exactly as
it stands in mmpretrain's config file (smallest variant, nothing overridden): one
training step, the coarse-map warning, and transfer back into the family's stock RGB
classifier built from the same config."""
import copy
import logging
import os.path as osp
import re

import mmpretrain
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401
from colorssl.models.transfer import (IMAGENET_MEAN, IMAGENET_STD,
                                      convert_colorization_backbone, find_stem,
                                      fit_srgb_to_lightness,
                                      load_colorization_checkpoint)

CONFIGS = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs')
# name: (mmpretrain config, head.in_channels as in that config; VGG's ClsHead has
# none: its last conv stage has 512 channels)
FAMILIES = {
    'resnet18': ('resnet/resnet18_8xb32_in1k.py', 512),
    'convnext-atto': ('convnext_v2/convnext-v2-atto_32xb32_in1k.py', 320),
    'deit-tiny': ('deit/deit-tiny_4xb256_in1k.py', 192),
    'mobilenet-v2': ('mobilenet_v2/mobilenet-v2_8xb32_in1k.py', 1280),
    'mobilenet-v3-small': ('mobilenet_v3/mobilenet-v3-small_8xb128_in1k.py', 576),
    'swin-tiny': ('swin_transformer/swin-tiny_16xb64_in1k.py', 768),
    'efficientnet-b0': ('efficientnet/efficientnet-b0_8xb32_in1k.py', 1280),
    'regnetx-400mf': ('regnet/regnetx-400mf_8xb128_in1k.py', 384),
    'poolformer-s12': ('poolformer/poolformer-s12_32xb128_in1k.py', 512),
    'vgg11': ('vgg/vgg11_8xb32_in1k.py', 512),
    'shufflenet-v2': ('shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py', 1024),
    'densenet121': ('densenet/densenet121_4xb256_in1k.py', 1024),
}
# VGG's stock backbone holds its fc classifier, which colorization has no use for
ALLOW_MISSING = {'vgg11': (r'^classifier\.', )}
# VGG's fc layers take a 7x7 map; Swin's windows (7) need its 7x7 last map
CLASSIFIER_SIZE = {'vgg11': 224, 'swin-tiny': 224}


def stock_model(name):
    return Config.fromfile(osp.join(CONFIGS, FAMILIES[name][0])).model


def colorization_cfg(name):
    return dict(
        type='Colorization',
        backbone=copy.deepcopy(stock_model(name).backbone),
        head=dict(
            type='ColorizationHead', in_channels=FAMILIES[name][1],
            prior='cifar10mini'))


def images(n=2, size=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)


def batch(n=2, size=64):
    return dict(
        inputs=list(images(n, size)), data_samples=[DataSample() for _ in range(n)])


def stem_param(backbone):
    return dict(backbone.named_parameters())[find_stem(backbone.state_dict()).weight]


def perturb(module, seed=0):
    """Make the constant-initialised float tensors (norms, biases, BN statistics)
    distinctive, so that a loaded tensor cannot equal a fresh init by chance (the
    random ones already differ between two builds)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            constant = tensor.numel() and bool((tensor == tensor.flatten()[0]).all())
            if tensor.is_floating_point() and constant:
                tensor.add_(0.1 * torch.rand(tensor.shape, generator=gen))


class Records(logging.Handler):
    """Catches the current MMLogger's records (its own handlers drop repeats)."""

    def __enter__(self):
        self.messages = []
        MMLogger.get_current_instance().addHandler(self)
        return self.messages

    def __exit__(self, *exc):
        MMLogger.get_current_instance().removeHandler(self)

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


@pytest.mark.parametrize('name', FAMILIES)
def test_one_training_step_reaches_the_stem(name):
    torch.manual_seed(0)
    model = MODELS.build(colorization_cfg(name))
    assert model.data_preprocessor.replicate_l == 3  # L into the 3-channel stem
    stem = stem_param(model.backbone)
    grads = []
    stem.register_hook(grads.append)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log = model.train_step(batch(), optim)
    assert torch.isfinite(log['loss'])
    assert len(grads) == 1 and torch.isfinite(grads[0]).all()
    assert grads[0].abs().sum() > 0


def test_coarse_map_warning_names_the_fix():
    cfg = colorization_cfg('mobilenet-v3-small')  # output stride 32
    for size, expect in ((64, True), (256, False)):
        model = MODELS.build(copy.deepcopy(cfg)).eval()
        inputs = model.data_preprocessor(batch(1, size))['inputs']
        with Records() as messages, torch.no_grad():
            feats = model(inputs, mode='tensor')
        warnings = [m for level, m in messages if level == logging.WARNING]
        assert feats[-1].shape[-2:] == (size // 32, size // 32)
        if expect:
            assert len(warnings) == 1, messages
            assert '2x2 feature map' in warnings[0]
            assert 'larger crop (at least 256 px)' in warnings[0]
            assert 'dilat' in warnings[0] and 'strides' in warnings[0]
        else:
            assert not warnings, warnings


def test_the_adapter_logs_what_it_sets_and_leaves_l_backbones_alone():
    with Records() as messages:
        MODELS.build(colorization_cfg('deit-tiny'))
    assert any("out_type='featmap'" in m for _, m in messages)
    model = MODELS.build(
        dict(
            type='Colorization',
            backbone=dict(type='ResNet', depth=18, in_channels=1, out_indices=(3, )),
            head=dict(type='ColorizationHead', in_channels=512, prior=None)))
    assert model.data_preprocessor.replicate_l == 1
    with pytest.raises(ValueError, match='replicate_l=3 but the backbone stem takes 1'):
        MODELS.build(
            dict(
                type='Colorization',
                data_preprocessor=dict(replicate_l=3),
                backbone=dict(type='ResNet', depth=18, in_channels=1),
                head=dict(type='ColorizationHead', in_channels=512, prior=None)))


def save_colorization(tmp_path, name):
    """(colorization model in eval mode, checkpoint path) as mmengine writes it."""
    torch.manual_seed(1)
    cfg = colorization_cfg(name)
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    perturb(model.backbone)
    model.eval()
    path = str(tmp_path / f'{name}.pth')
    meta = dict(cfg=Config(dict(model=cfg)).pretty_text)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return model, path


def transferred_classifier(name, path, **init):
    """The family's stock classifier with ``ColorizationPretrained`` init."""
    cfg = stock_model(name)
    cfg.backbone.init_cfg = dict(
        type='mmpretrain.ColorizationPretrained',
        checkpoint=path,
        prefix='backbone.',
        allow_missing=ALLOW_MISSING.get(name, ()),
        **init)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('name', FAMILIES)
def test_transfer_into_the_stock_rgb_classifier(name, tmp_path):
    color, path = save_colorization(tmp_path, name)
    clf = transferred_classifier(name, path, input='rgb')
    expected, info = convert_colorization_backbone(load_colorization_checkpoint(path))
    got = clf.backbone.state_dict()
    keys = [
        k for k in got if not any(re.search(p, k) for p in ALLOW_MISSING.get(name, ()))
    ]
    assert keys and set(keys) <= set(expected)
    for key in keys:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)
    source = color.backbone.state_dict()
    for key in keys:
        if key not in (info['stem'], info['offset_into']):
            assert torch.equal(got[key], source[key]), key
    stem = info['stem']
    assert info['in_channels'] == 3 and not torch.equal(got[stem], source[stem])
    size = CLASSIFIER_SIZE.get(name, 64)
    with torch.no_grad():
        logits = clf(torch.randn(2, 3, size, size), mode='tensor')
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()


def features(backbone, x, hook):
    """The backbone's output, or that of its sub-module ``hook`` (a ViT's final
    norm: the classifier returns the class token, colorization the patch map)."""
    if hook is None:
        return backbone(x)[-1]
    out = []
    handle = backbone.get_submodule(hook).register_forward_hook(
        lambda module, args, result: out.append(result))
    backbone(x)
    handle.remove()
    return out[0]


def l_from_pixels_mean(fit):
    """The gray pixel value whose fitted L is l_cent = 50: with it as the RGB mean,
    the zero padding of both stems means the same colour, borders included."""
    return float(255 * (50. - fit[3]) / fit[:3].sum())


# (family, sub-module compared, RGB mean): a 3-channel-stem conv net whose stem
# convolution pads (so its RGB mean is chosen to make padding agree) and a transformer
# whose patch embedding never pads (stock ImageNet mean).
EQUIVALENCE = [('resnet18', None, 'padding-neutral'),
               ('deit-tiny', 'ln1', IMAGENET_MEAN)]


@pytest.mark.parametrize('name,hook,mean', EQUIVALENCE, ids=('resnet18', 'deit'))
def test_rgb_classifier_on_rgb_equals_colorization_backbone_on_l(
        name, hook, mean, tmp_path):
    color, path = save_colorization(tmp_path, name)
    rgb8 = images(2, 32, seed=3)
    # 'gray': RGBToGray images carry the L the colorization model computed, 255 L /
    # 100 in every channel; normalised by 2.55 (l_cent, l_norm), the fold is exact.
    gray_clf = transferred_classifier(
        name, path, input='gray', mean=[127.5] * 3, std=[2.55] * 3)
    x_l = color.data_preprocessor(dict(inputs=list(rgb8)))['inputs']  # (N, 3, H, W)
    gray = (x_l + 50.) * 2.55  # the gray image, pixel units
    with torch.no_grad():
        ref = features(color.backbone, x_l, hook)
        out = features(gray_clf.backbone, (gray - 127.5) / 2.55, hook)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max())

    # 'rgb': colour pixels normalised by (mean, std); the fold reproduces the L
    # network on the affine fit of L on sRGB, exactly.
    fit = fit_srgb_to_lightness()
    mean = [l_from_pixels_mean(fit)] * 3 if mean == 'padding-neutral' else list(mean)
    rgb_clf = transferred_classifier(
        name, path, input='rgb', mean=mean, std=IMAGENET_STD)
    rgb = rgb8.double()
    l_fit = (fit[:3].view(1, 3, 1, 1) * rgb / 255).sum(1, keepdim=True) + fit[3]
    x_fit = (l_fit - 50.).float().expand(-1, 3, -1, -1)  # replicated, as trained
    mean_t, std_t = (torch.tensor(v).view(1, 3, 1, 1) for v in (mean, IMAGENET_STD))
    with torch.no_grad():
        ref = features(color.backbone, x_fit, hook)
        out = features(rgb_clf.backbone, ((rgb - mean_t) / std_t).float(), hook)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max())
