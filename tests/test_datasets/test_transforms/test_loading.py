import numpy as np
import pytest
import torch
from PIL import Image

from colorssl.datasets.transforms import LoadRGBImage, read_rgb, skipped_image_count
from colorssl.datasets.transforms.loading import BadImageError


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


def test_min_size(tmp_path, rgb_array):
    """A readable image below ``min_size`` is a bad file: raised or skipped, the
    message names the file, its size and the size expected."""
    Image.fromarray(rgb_array[:1, :1]).save(tmp_path / 'dot.png')
    Image.fromarray(rgb_array).save(tmp_path / 'ok.png')
    with pytest.raises(BadImageError, match=r'dot\.png is 1x1 .*min_size=10'):
        LoadRGBImage(min_size=10)(dict(img_path=str(tmp_path / 'dot.png')))
    skip = LoadRGBImage(on_error='skip', min_size=10)
    assert skip(dict(img_path=str(tmp_path / 'dot.png'))) is None
    assert skip.num_skipped == 1
    assert skip(dict(img_path=str(tmp_path / 'ok.png')))['img'].shape == (12, 10, 3)
    dot = LoadRGBImage()(dict(img_path=str(tmp_path / 'dot.png')))  # min_size=1
    assert dot['img'].shape == (1, 1, 3)


def test_bad_option():
    with pytest.raises(ValueError, match='on_error'):
        LoadRGBImage(on_error='ignore')


def test_cmyk_tiff_is_a_valid_image(tmp_path, rgb_array):
    """A CMYK TIFF trains: PIL's plain CMYK (K = 0) converts back to the RGB exactly."""
    Image.fromarray(rgb_array).convert('CMYK').save(tmp_path / 'cmyk.tif')
    out = LoadRGBImage(on_error='skip')(dict(img_path=str(tmp_path / 'cmyk.tif')))
    np.testing.assert_array_equal(out['img'], rgb_array)


class _Files(torch.utils.data.Dataset):
    """Runs a LoadRGBImage on each path, as a dataset's pipeline does in a worker."""

    def __init__(self, paths, load):
        self.paths, self.load = paths, load

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.load(dict(img_path=self.paths[i])) is None


def test_skips_in_dataloader_workers_reach_the_main_process(tmp_path, rgb_array):
    Image.fromarray(rgb_array).save(tmp_path / 'good.png')
    (tmp_path / 'empty.jpg').write_bytes(b'')
    (tmp_path / 'corrupt.jpg').write_bytes(b'not an image at all')
    paths = [str(tmp_path / n) for n in ('good.png', 'empty.jpg', 'corrupt.jpg')] * 3
    load = LoadRGBImage(on_error='skip')
    before = skipped_image_count()
    loader = torch.utils.data.DataLoader(
        _Files(paths, load),
        batch_size=2,
        num_workers=2,
        multiprocessing_context='fork')
    skipped = int(sum(batch.sum() for batch in loader))
    assert skipped == 6
    assert load.num_skipped == 6  # counted in the workers, read here
    assert skipped_image_count() - before == 6
