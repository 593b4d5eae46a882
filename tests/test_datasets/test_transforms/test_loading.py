import numpy as np
import pytest
from PIL import Image

from colorssl.datasets.transforms import LoadRGBImage, read_rgb


@pytest.fixture
def rgb_array():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)


def test_modes_become_uint8_rgb(tmp_path, rgb_array):
    base = Image.fromarray(rgb_array)
    cases = {
        'rgb.png': base,
        'rgba.png': base.convert('RGBA'),
        'palette.png': base.convert('P'),
        'cmyk.jpg': base.convert('CMYK'),
        'gray.png': base.convert('L'),
        'la.png': base.convert('LA'),
    }
    for name, img in cases.items():
        img.save(tmp_path / name)
        out = read_rgb(str(tmp_path / name))
        assert out.shape == (12, 10, 3) and out.dtype == np.uint8, name
    np.testing.assert_array_equal(read_rgb(str(tmp_path / 'rgb.png')), rgb_array)
    np.testing.assert_array_equal(read_rgb(str(tmp_path / 'rgba.png')), rgb_array)
    gray = read_rgb(str(tmp_path / 'gray.png'))
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def test_16bit_gray_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / 'g16.png')
    out = read_rgb(str(tmp_path / 'g16.png'))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])


def test_corrupt_and_truncated_files(tmp_path, rgb_array):
    (tmp_path / 'corrupt.jpg').write_bytes(b'not an image at all')
    Image.fromarray(rgb_array).resize((200, 200)).save(tmp_path / 'full.jpg')
    data = (tmp_path / 'full.jpg').read_bytes()
    (tmp_path / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    load = LoadRGBImage()
    for name in ('corrupt.jpg', 'truncated.jpg'):
        with pytest.raises(OSError, match=name):
            load(dict(img_path=str(tmp_path / name)))
    skip = LoadRGBImage(on_error='skip')
    assert skip(dict(img_path=str(tmp_path / 'corrupt.jpg'))) is None
    assert skip(dict(img_path=str(tmp_path / 'truncated.jpg'))) is None
    assert skip.num_skipped == 2
    ok = skip(dict(img_path=str(tmp_path / 'full.jpg')))
    assert ok['img'].shape == (200, 200, 3) and ok['img_shape'] == (200, 200)


def test_bad_option():
    with pytest.raises(ValueError, match='on_error'):
        LoadRGBImage(on_error='ignore')
