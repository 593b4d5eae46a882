"""Reading, recognising and converting colorization checkpoints; key checks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.color import rgb2lab
from transfer_helpers import (TINY_RESNET, build_tiny_resnet, randomize_norms,
                              write_colorization_ckpt)

from colorssl.models.transfer import (CheckpointMismatchError, check_loadable,
                                      compare_state_dict, convert_colorization_backbone,
                                      find_stem, fit_srgb_to_lightness,
                                      load_colorization_checkpoint)


def test_load_reads_l_scaling_and_strips_prefix(tiny_resnet_ckpt):
    path, backbone = tiny_resnet_ckpt
    ckpt = load_colorization_checkpoint(path)
    assert (ckpt.l_cent, ckpt.l_norm) == (48., 2.)
    assert ckpt.backbone_type == 'ResNet'
    assert list(ckpt.state_dict) == list(backbone.state_dict())
    # explicit values override the config's
    assert load_colorization_checkpoint(path, l_cent=50.).l_cent == 50.


def test_not_a_colorization_model(tmp_path):
    net = build_tiny_resnet(1)
    path = write_colorization_ckpt(
        tmp_path / 'cls.pth', net, TINY_RESNET, model_type='ImageClassifier')
    with pytest.raises(
            ValueError, match=r"model.type='ImageClassifier', expected "
            r"'Colorization'"):
        load_colorization_checkpoint(path)
    path = write_colorization_ckpt(
        tmp_path / 'nohead.pth', net, TINY_RESNET, with_head=False)
    with pytest.raises(
            ValueError, match=r"no 'head.conv_seg.\*' keys.*\['backbone.'\]"):
        load_colorization_checkpoint(path)


def test_prefix_matching_no_key(tiny_resnet_ckpt):
    with pytest.raises(
            ValueError,
            match=r"prefix 'encoder.' matches no key.*"
            r"\['backbone.', 'head.'\]"):
        load_colorization_checkpoint(tiny_resnet_ckpt[0], prefix='encoder')


def test_missing_config_needs_explicit_scaling(tmp_path):
    path = write_colorization_ckpt(
        tmp_path / 'nocfg.pth', build_tiny_resnet(1), TINY_RESNET, with_cfg=False)
    with pytest.raises(ValueError, match='pass l_cent and l_norm'):
        load_colorization_checkpoint(path)
    assert load_colorization_checkpoint(path, l_cent=50., l_norm=1.).l_norm == 1.


def test_missing_file():
    with pytest.raises(FileNotFoundError, match='colorization checkpoint not found'):
        load_colorization_checkpoint('/nonexistent/x.pth')


def test_find_stem_variants():
    from mmpretrain.models.backbones import ResNetV1c

    from colorssl.models.backbones import ColorizationNet
    assert find_stem(build_tiny_resnet(1).state_dict()) == ('conv1.weight', None,
                                                            'bn1.running_mean')
    assert find_stem(ColorizationNet(
        base_channels=8).state_dict()) == ('conv1.0.weight', 'conv1.0.bias', None)
    deep = ResNetV1c(depth=18, in_channels=1, stem_channels=8, base_channels=8)
    assert find_stem(deep.state_dict()) == ('stem.0.conv.weight', None,
                                            'stem.0.bn.running_mean')


def _stem_out(net, x):
    return F.relu(net.norm1(net.conv1(x)))


def test_rgb_conversion_reproduces_stem_in_the_interior(tiny_resnet_ckpt):
    """conv1 -> bn1 (eval) of the converted RGB net on normalised RGB equals that of the
    L net on the fitted L, except within the 3-pixel padding band (7x7, pad 3)."""
    path, l_net = tiny_resnet_ckpt
    ckpt = load_colorization_checkpoint(path)
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    state, info = convert_colorization_backbone(ckpt, 'rgb', mean, std)
    assert info['offset_into'] == 'bn1.running_mean'
    rgb_net = build_tiny_resnet(3)
    rgb_net.eval()
    rgb_net.load_state_dict(state)  # strict

    pixels = torch.randint(0, 256, (2, 3, 32, 32)).double()
    fit = fit_srgb_to_lightness()
    lum = torch.einsum('c,nchw->nhw', fit[:3], pixels / 255.)[:, None] + fit[3]
    x_l = (lum - 48.) / 2.
    x_rgb = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1)
    with torch.no_grad():
        ref = _stem_out(l_net.double(), x_l)
        ours = _stem_out(rgb_net.double(), x_rgb)
    # output pixel i sees input rows 2i-3 .. 2i+3: rows 2..13 of 16 avoid padding
    torch.testing.assert_close(
        ours[..., 2:14, 2:14], ref[..., 2:14, 2:14], rtol=1e-4, atol=1e-4)
    assert (ours[..., 0, :] - ref[..., 0, :]).abs().max() > 1e-3


def test_bgr_channel_order_permutes_the_fit(tiny_resnet_ckpt):
    ckpt = load_colorization_checkpoint(tiny_resnet_ckpt[0])
    rgb, _ = convert_colorization_backbone(ckpt, 'rgb', [100.] * 3, [50.] * 3, 'rgb')
    bgr, _ = convert_colorization_backbone(ckpt, 'rgb', [100.] * 3, [50.] * 3, 'bgr')
    torch.testing.assert_close(bgr['conv1.weight'], rgb['conv1.weight'].flip(1))
    torch.testing.assert_close(bgr['bn1.running_mean'], rgb['bn1.running_mean'])


def test_gray_conversion_reproduces_the_whole_network(tiny_resnet_ckpt):
    """1-channel RGBToGray input with mean 2.55 * l_cent, std 2.55 * l_norm is exactly
    the L input, borders included: every output of the network matches."""
    path, l_net = tiny_resnet_ckpt
    ckpt = load_colorization_checkpoint(path)
    state, _ = convert_colorization_backbone(ckpt, 'gray', [2.55 * 48], [2.55 * 2])
    gray_net = build_tiny_resnet(1)
    gray_net.eval()
    gray_net.load_state_dict(state)
    img = np.random.default_rng(0).integers(0, 256, (24, 24, 3)).astype(np.uint8)
    lum = torch.from_numpy(rgb2lab(img)[..., 0]).float()[None, None]
    with torch.no_grad():
        ref = l_net((lum - 48.) / 2.)[-1]
        ours = gray_net((2.55 * lum - 2.55 * 48) / (2.55 * 2))[-1]
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_colorization_net_offset_goes_into_bias(tmp_path):
    from colorssl.models.backbones import ColorizationNet
    l_net = randomize_norms(ColorizationNet(base_channels=8)).eval()
    cfg = dict(type='ColorizationNet', base_channels=8)
    path = write_colorization_ckpt(tmp_path / 'cn.pth', l_net, cfg, head_in_channels=32)
    ckpt = load_colorization_checkpoint(path)
    state, info = convert_colorization_backbone(ckpt, 'rgb')
    assert info['offset_into'] == 'conv1.0.bias'
    rgb_net = ColorizationNet(in_channels=3, base_channels=8).eval()
    rgb_net.load_state_dict(state)
    pixels = torch.randint(0, 256, (1, 3, 16, 16)).float()
    fit = fit_srgb_to_lightness().float()
    lum = torch.einsum('c,nchw->nhw', fit[:3], pixels / 255.)[:, None] + fit[3]
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = l_net.conv1[0](lum - 50.)
        ours = rgb_net.conv1[0]((pixels - mean) / std)
    torch.testing.assert_close(
        ours[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], rtol=1e-4, atol=1e-3)


def test_stem_without_bias_or_norm_is_refused(tmp_path):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, bias=False), torch.nn.Conv2d(4, 4, 3))
    path = write_colorization_ckpt(tmp_path / 'bare.pth', net, dict(type='X'))
    ckpt = load_colorization_checkpoint(path)
    with pytest.raises(
            ValueError,
            match=r'stem 0.weight \(4, 1, 3, 3\): it has no '
            'bias and no BatchNorm'):
        convert_colorization_backbone(ckpt, 'rgb')
    # 'l' needs no offset
    assert convert_colorization_backbone(ckpt, 'l')[1]['input'] == 'l'


def test_deep_stem_target_is_refused_with_a_hint(tiny_resnet_ckpt):
    from mmpretrain.models.backbones import ResNetV1c
    ckpt = load_colorization_checkpoint(tiny_resnet_ckpt[0])
    state, _ = convert_colorization_backbone(ckpt, 'rgb')
    target = ResNetV1c(depth=18, stem_channels=8, base_channels=8)
    with pytest.raises(CheckpointMismatchError) as err:
        check_loadable(target.state_dict(), state, 'ckpt -> ResNetV1c', 'rgb')
    msg = str(err.value)
    assert 'missing keys (would stay at random init): ' in msg
    assert 'stem.0.conv.weight' in msg
    assert 'deep_stem=False' in msg and "'mmpretrain.ResNet'" in msg
    assert 'conv1.weight (8, 3, 7, 7)' in msg


def test_channel_mismatch_is_refused_with_a_hint(tiny_resnet_ckpt):
    ckpt = load_colorization_checkpoint(tiny_resnet_ckpt[0])
    state, _ = convert_colorization_backbone(ckpt, 'l')
    with pytest.raises(
            CheckpointMismatchError,
            match=r"(?s)conv1.weight \(8, 1, 7, 7\) vs \(8, 3, 7, 7\)"
            r".*takes 1 channel\(s\) in the checkpoint and 3 in the module"):
        check_loadable(build_tiny_resnet(3).state_dict(), state, 'x', 'l')


def test_compare_and_allow_missing():
    a = {'x': torch.zeros(2), 'y': torch.zeros(3), 'z': torch.zeros(1)}
    b = {'x': torch.zeros(2), 'y': torch.zeros(4), 'w': torch.zeros(1)}
    report = compare_state_dict(a, b)
    assert report.missing == ['z'] and report.unexpected == ['w']
    assert report.mismatched == [('y', (4, ), (3, ))]
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        check_loadable(a, b, 'w', allow_missing=['^z$'])
    b['y'] = torch.zeros(3)
    assert check_loadable(a, b, 'w', allow_missing=['^z$']).ok


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_plain_stem_resnet_keys_agree_across_scopes(scope):
    """A backbone pretrained with mmpretrain's ResNet loads into mmdet's / mmseg's."""
    import importlib
    import importlib.util
    if importlib.util.find_spec(scope) is None:
        pytest.skip(f'{scope} is not installed')
    from mmpretrain.models.backbones import ResNet as PretrainResNet
    other = importlib.import_module(f'{scope}.models.backbones').ResNet
    for depth in (18, 50):
        ours = PretrainResNet(depth=depth, in_channels=3).state_dict()
        theirs = other(depth=depth, in_channels=3).state_dict()
        assert compare_state_dict(theirs, ours) == ([], [], [])
