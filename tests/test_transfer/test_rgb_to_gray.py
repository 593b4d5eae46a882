"""RGBToGray: every channel = 255 * L / 100, checked against skimage."""
import numpy as np
import pytest
from skimage.color import rgb2lab

from colorssl.datasets.transforms import RGBToGray


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (9, 11, 3)).astype(np.uint8)


@pytest.mark.parametrize('num_channels', [1, 3])
def test_lightness_in_every_channel(rgb, num_channels):
    ref = 2.55 * rgb2lab(rgb)[..., 0]
    out = RGBToGray(
        num_channels=num_channels, channel_order='rgb')(dict(img=rgb.copy()))['img']
    assert out.dtype == np.uint8
    if num_channels == 1:
        assert out.shape == (9, 11)
        out = out[..., None]
    assert out.shape == (9, 11, num_channels)
    for c in range(num_channels):
        assert np.abs(out[..., c].astype(float) - ref).max() <= 0.5 + 1e-3


def test_bgr_default_and_float_input(rgb):
    ref = 2.55 * rgb2lab(rgb)[..., 0]
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    out = RGBToGray()(dict(img=bgr.astype(np.float32)))['img']
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], ref, atol=1e-2)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_reachable_from_every_scope(scope):
    """Registered in mmpretrain; mmdet/mmseg configs name 'mmpretrain.RGBToGray'."""
    import importlib
    import importlib.util
    if importlib.util.find_spec(scope) is None:
        pytest.skip(f'{scope} is not installed')
    from mmengine.registry import DefaultScope
    registry = importlib.import_module(f'{scope}.registry').TRANSFORMS
    name = 'RGBToGray' if scope == 'mmpretrain' else 'mmpretrain.RGBToGray'
    with DefaultScope.overwrite_default_scope(scope):
        assert registry.get(name) is RGBToGray
        assert registry.build(dict(type=name, num_channels=1)).num_channels == 1


def test_errors(rgb):
    with pytest.raises(ValueError, match='num_channels must be 1 or 3'):
        RGBToGray(num_channels=2)
    with pytest.raises(ValueError, match="channel_order must be 'bgr' or 'rgb'"):
        RGBToGray(channel_order='lab')
    with pytest.raises(ValueError, match=r'expects an \(H, W, 3\) image'):
        RGBToGray()(dict(img=rgb[..., 0]))
