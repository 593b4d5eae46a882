"""Tests for tools/colorize.py and the functions of colorssl.apis.inferencer it runs:
sizes, input listing, the L/ab recombination (with a stub model) and an end-to-end
run with a tiny randomly initialised Colorization model. The image reader is tested in
tests/test_datasets/test_transforms/test_read_image.py."""
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab

from colorssl.apis.inferencer import colorize_arrays, list_inputs, network_size

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('colorize_tool',
                                               ROOT / 'tools' / 'colorize.py')
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def _save(path, arr, mode=None, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr) if mode is None else Image.fromarray(arr).convert(mode)
    img.save(path, **kwargs)
    return path


def _random_rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------- sizes and inputs
@pytest.mark.parametrize(
    'hw, size, expected',
    [
        ((256, 256), 256, (256, 256)),
        ((1000, 1333), 256, (256, 344)),  # 341.2 -> nearest multiple of 8
        ((1333, 1000), 256, (344, 256)),
        ((37, 53), 16, (16, 24)),
        ((10, 400), 8, (8, 320)),
    ])
def test_network_size(hw, size, expected):
    got = network_size(*hw, size)
    assert got == expected
    assert all(s % 8 == 0 for s in got) and min(got) == size
    # aspect kept up to the rounding to 8 pixels
    assert abs(max(got) - max(hw) * size / min(hw)) <= 4


@pytest.mark.parametrize('size', [0, 100, -8])
def test_network_size_rejects_bad_size(size):
    with pytest.raises(ValueError, match='size'):
        network_size(64, 64, size)


def test_list_inputs(tmp_path):
    src = tmp_path / 'photos'
    for rel in [
            'a.jpg', 'a.png', 'sub/b.JPG', 'sub/deep/c.tif', 'notes.txt',
            'results/old.png'
    ]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b'x')
    single = tmp_path / 'single.weird'
    single.write_bytes(b'x')
    out = src / 'results'
    pairs = list_inputs([str(src), str(single)], str(out))
    got = {(Path(source).relative_to(tmp_path).as_posix(), name)
           for source, name in pairs}
    assert got == {('photos/a.jpg', 'a'), ('photos/a.png', 'a_2'),
                   ('photos/sub/b.JPG', 'sub/b'),
                   ('photos/sub/deep/c.tif', 'sub/deep/c'), ('single.weird', 'single')}

    with pytest.raises(FileNotFoundError, match='missing_folder'):
        list_inputs([str(tmp_path / 'missing_folder')], str(out))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no images'):
        list_inputs([str(tmp_path / 'empty')], str(out))
    with pytest.raises(ValueError, match='overwrite'):
        list_inputs([str(src / 'a.png')], str(src))
    arrays = list_inputs([np.zeros((2, 2), np.uint8), str(single)])
    assert [name for _, name in arrays] == ['array_0', 'single']


# ------------------------------------------------- recombination with a stub model
class StubModel:
    """Returns a constant ab field at the size it is given; records its inputs."""

    def __init__(self, ab=(20., -30.), channel_order='rgb'):
        self.ab = ab
        self.data_preprocessor = SimpleNamespace(
            channel_order=channel_order, gray_thresh=5.)
        self.calls = []

    def colorize(self, images, temperature=None):
        self.calls.append(dict(images=images.clone(), temperature=temperature))
        n, _, h, w = images.shape
        ab = torch.tensor(self.ab, dtype=torch.float32).view(1, 2, 1, 1)
        return ab.expand(n, 2, h, w).clone()


def test_colorize_keeps_full_resolution_l_and_uses_predicted_ab():
    rng = np.random.default_rng(0)
    # Mid-tone gray image: L in about [35, 70] so that ab = (20, -30) is in gamut.
    gray = rng.integers(77, 166, (37, 53), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, 2)
    model = StubModel()
    result, = colorize_arrays(model, [rgb], size=16, temperature=0.25, with_gray=True)

    call, = model.calls
    assert call['images'].dtype == torch.uint8
    assert tuple(call['images'].shape) == (1, 3, 16, 24)
    assert call['temperature'] == 0.25
    assert result['colorized'].shape == result['gray'].shape == (37, 53, 3)
    assert result['colorized'].dtype == np.uint8 and not result['has_color']
    assert result['pred_ab'].shape == (2, 16, 24)  # at the network's size

    lab_in = rgb2lab(rgb / 255.)
    lab_out = rgb2lab(result['colorized'] / 255.)
    np.testing.assert_allclose(lab_out[..., 0], lab_in[..., 0], atol=0.6)
    np.testing.assert_allclose(lab_out[..., 1], 20., atol=1.5)
    np.testing.assert_allclose(lab_out[..., 2], -30., atol=1.5)
    np.testing.assert_allclose(result['gray'], rgb, atol=1)


def test_colorize_detects_colour_and_follows_channel_order():
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[..., 0] = 204  # red
    for order, red_channel in [('rgb', 0), ('bgr', 2)]:
        model = StubModel(channel_order=order)
        result, = colorize_arrays(model, [rgb], size=8, temperature=0.38)
        assert result['has_color']
        seen = model.calls[0]['images'][0].float().mean((1, 2))
        assert seen.argmax().item() == red_channel
        assert seen[red_channel].item() == pytest.approx(204, abs=1)


def test_images_of_one_network_size_share_a_call():
    images = [_random_rgb(16, 16, 1), _random_rgb(20, 30, 2), _random_rgb(32, 32, 3)]
    model = StubModel()
    results = colorize_arrays(model, images, size=16)
    assert [tuple(c['images'].shape) for c in model.calls] == [(2, 3, 16, 16),
                                                               (1, 3, 16, 24)]
    # the 32x32 image reaches the network downscaled (antialiased), the 16x16 as is
    np.testing.assert_array_equal(model.calls[0]['images'][0].permute(1, 2, 0),
                                  images[0])
    assert [r['colorized'].shape[:2] for r in results] == [(16, 16), (20, 30), (32, 32)]
    assert [r['pred_ab'].shape for r in results] == [(2, 16, 16), (2, 16, 24),
                                                     (2, 16, 16)]


# ------------------------------------------------------------------ end to end
TINY_CONFIG = """
custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)
model = dict(
    type='Colorization',
    data_preprocessor=dict(type='ColorizationDataPreprocessor'),
    backbone=dict(type='ColorizationNet', base_channels=8),
    head=dict(type='ColorizationHead', in_channels=32, prior=None))
"""


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import colorssl  # noqa: F401

    root = tmp_path_factory.mktemp('model')
    config = root / 'tiny_colorization.py'
    config.write_text(TINY_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    checkpoint = root / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    return str(config), str(checkpoint)


def test_end_to_end(tmp_path, tiny_model, capsys):
    config, checkpoint = tiny_model
    src = tmp_path / 'in'
    color = _random_rgb(30, 45, seed=3)
    gray = np.random.default_rng(4).integers(0, 256, (41, 27), dtype=np.uint8)
    _save(src / 'color.png', color)
    _save(src / 'old' / 'gray.png', gray)
    _save(src / 'old' / 'gray16.tif',
          (gray.astype(np.uint16) * 257))  # 16-bit version of the same picture
    (src / 'old' / 'broken.jpg').write_bytes(b'\xff\xd8\xff garbage')
    out = tmp_path / 'out'

    argv = [config, checkpoint, str(src), '--out-dir', str(out), '--size', '16']
    assert tool.main(argv) == 1
    err = capsys.readouterr().err
    assert 'broken.jpg' in err and '--skip-bad' in err

    assert tool.main(argv +
                     ['--skip-bad', '--side-by-side', '--temperature', '0.5']) == 0
    stdout = capsys.readouterr().out
    assert 'colorized 3 image(s)' in stdout
    assert 'skipped 1 unreadable file(s)' in stdout and 'broken.jpg' in stdout

    cases = [('color', color, 45, 3), ('old/gray', gray, 27, 2),
             ('old/gray16', gray, 27, 2)]
    for name, original, width, panels in cases:
        result = np.asarray(Image.open(out / f'{name}.png'))
        assert result.shape == (*original.shape[:2], 3)
        rgb_in = original / 255. if original.ndim == 3 else \
            np.repeat(original[..., None] / 255., 3, 2)
        # The original full-resolution L is kept (up to 8-bit rounding and
        # out-of-gamut clipping of the predicted colours).
        l_in = rgb2lab(rgb_in)[..., 0]
        l_out = rgb2lab(result / 255.)[..., 0]
        assert np.median(np.abs(l_out - l_in)) < 1.0, name
        side = np.asarray(Image.open(out / f'{name}_side_by_side.png'))
        assert side.shape == (original.shape[0], width * panels, 3), name
        np.testing.assert_array_equal(side[:, width:2 * width], result)
        if panels == 3:
            np.testing.assert_array_equal(side[:, 2 * width:], original)
    assert not (out / 'old' / 'broken.png').exists()

    # batches (of mixed network sizes) give the same pictures
    out3 = tmp_path / 'out3'
    argv3 = [config, checkpoint, str(src), '--out-dir', str(out3), '--size', '16']
    assert tool.main(argv3 + ['--skip-bad', '--batch-size', '3']) == 0
    for name, _, _, _ in cases:
        np.testing.assert_allclose(
            np.asarray(Image.open(out3 / f'{name}.png')),
            np.asarray(Image.open(out / f'{name}.png')),
            atol=1)


def test_end_to_end_rejects_foreign_checkpoint(tmp_path, tiny_model, capsys):
    config, _ = tiny_model
    wrong = tmp_path / 'wrong.pth'
    torch.save(
        dict(state_dict={'backbone.conv1.0.weight': torch.zeros(8, 1, 3, 3)}), wrong)
    img = _save(tmp_path / 'x.png', _random_rgb(8, 8))
    assert tool.main([config,
                      str(wrong),
                      str(img), '--out-dir',
                      str(tmp_path / 'o')]) == 1
    assert 'does not fit' in capsys.readouterr().err
    assert tool.main([
        config,
        str(tmp_path / 'nope.pth'),
        str(img), '--out-dir',
        str(tmp_path / 'o')
    ]) == 1
    assert 'nope.pth' in capsys.readouterr().err
