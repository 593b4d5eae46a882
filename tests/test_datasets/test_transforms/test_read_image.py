"""read_rgb, the one image reader of training, tools/colorize.py (through
ColorizationInferencer) and tools/compute_color_prior.py, against PIL / numpy
references; find_images."""
import numpy as np
import pytest
from PIL import Image

from colorssl.datasets.transforms.loading import BadImageError, find_images, read_rgb


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)


def _read(path):
    out = read_rgb(str(path))
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.flags.writeable
    return out


def test_modes_pil_converts(tmp_path, rgb):
    """Palette, gray, 1-bit, CMYK (JPEG and TIFF): as PIL's convert('RGB')."""
    base = Image.fromarray(rgb)
    cases = {
        'p.png': base.quantize(colors=16),
        'l.png': base.convert('L'),
        'bits.png': base.convert('1'),
        'cmyk.jpg': base.convert('CMYK'),
        'cmyk.tif': base.convert('CMYK'),
    }
    for name, img in cases.items():
        img.save(tmp_path / name)
        with Image.open(tmp_path / name) as ref:
            assert ref.mode == img.mode, name  # stored in that mode
            expected = np.asarray(ref.convert('RGB'))
        np.testing.assert_array_equal(_read(tmp_path / name), expected, err_msg=name)
    # PIL's plain CMYK (K = 0) goes back to the RGB exactly
    np.testing.assert_array_equal(_read(tmp_path / 'cmyk.tif'), rgb)


def test_16bit_gray_is_scaled_from_full_range(tmp_path):
    values = np.linspace(0, 65535, 60).round().astype(np.uint16).reshape(6, 10)
    Image.fromarray(values).save(tmp_path / 'g16.png')
    with Image.open(tmp_path / 'g16.png') as img:
        assert img.mode == 'I;16' and np.asarray(img).max() == 65535
    out = _read(tmp_path / 'g16.png')
    expected = np.rint(values / 257.).astype(np.uint8)  # 65535 / 255 = 257
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], expected)
    assert out.max() == 255 and out.min() == 0


def test_32bit_integer_and_float_gray(tmp_path):
    ints = np.array([[0, 257, 65535]], dtype=np.int32)
    Image.fromarray(ints, mode='I').save(tmp_path / 'i.tif')
    np.testing.assert_array_equal(_read(tmp_path / 'i.tif')[0, :, 0], [0, 1, 255])
    floats = np.array([[0., 0.5, 1.]], dtype=np.float32)
    Image.fromarray(floats, mode='F').save(tmp_path / 'f.tif')
    np.testing.assert_array_equal(_read(tmp_path / 'f.tif')[0, :, 1], [0, 128, 255])
    outside = np.array([[-1, 70000]], np.int32)
    Image.fromarray(outside, mode='I').save(tmp_path / 'o.tif')
    with pytest.raises(BadImageError, match=r'o\.tif: .*outside 0\.\.65535'):
        read_rgb(str(tmp_path / 'o.tif'))


def test_alpha_is_composited_onto_white(tmp_path, rgb):
    alpha = np.random.default_rng(1).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), 'RGBA').save(tmp_path / 'rgba.png')
    a = alpha[..., None] / 255.
    expected = np.rint(rgb * a + 255. * (1. - a)).astype(np.uint8)
    np.testing.assert_array_equal(_read(tmp_path / 'rgba.png'), expected)

    gray = rgb[..., 0]
    Image.fromarray(np.dstack([gray, alpha]), 'LA').save(tmp_path / 'la.png')
    expected = np.rint(gray[..., None] * a + 255. * (1. - a)).astype(np.uint8)
    np.testing.assert_array_equal(_read(tmp_path / 'la.png'), expected.repeat(3, 2))

    pal = Image.fromarray(rgb).quantize(colors=8)
    pal.info['transparency'] = 0
    pal.save(tmp_path / 'pt.png', transparency=0)
    out = _read(tmp_path / 'pt.png')
    index = np.asarray(pal)
    assert (out[index == 0] == 255).all()  # the transparent colour -> white
    np.testing.assert_array_equal(out[index != 0],
                                  np.asarray(pal.convert('RGB'))[index != 0])


def test_content_decides_not_the_extension(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / 'really_a_png.jpg', format='PNG')
    np.testing.assert_array_equal(_read(tmp_path / 'really_a_png.jpg'), rgb)


def test_exif_orientation_and_tiny_images(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    pixels = np.random.default_rng(2).integers(0, 256, (10, 20, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    img.save(tmp_path / 'r.jpg', exif=exif)
    with Image.open(tmp_path / 'r.jpg') as ref:
        expected = np.asarray(ref.transpose(Image.Transpose.ROTATE_270))
    np.testing.assert_array_equal(_read(tmp_path / 'r.jpg'), expected)
    Image.fromarray(np.array([[[10, 200, 30]]], np.uint8)).save(tmp_path / '1x1.png')
    np.testing.assert_array_equal(_read(tmp_path / '1x1.png'), [[[10, 200, 30]]])


def test_bad_files_raise_one_error_naming_file_and_reason(tmp_path, rgb):
    big = Image.fromarray(np.tile(rgb, (8, 8, 1)))
    big.save(tmp_path / 'full.jpg', quality=90)
    data = (tmp_path / 'full.jpg').read_bytes()
    (tmp_path / 'half.jpg').write_bytes(data[:len(data) // 2])
    big.save(tmp_path / 'full.png')
    data = (tmp_path / 'full.png').read_bytes()
    (tmp_path / 'half.png').write_bytes(data[:len(data) // 2])
    (tmp_path / 'empty.jpg').write_bytes(b'')
    (tmp_path / 'junk.jpg').write_bytes(b'not an image at all')
    (tmp_path / 'dir.jpg').mkdir()
    cases = {
        'half.jpg': 'truncated',
        'half.png': '',
        'empty.jpg': 'empty file',
        'junk.jpg': 'cannot identify',
        'dir.jpg': 'directory',
        'missing.png': 'No such file',
    }
    for name, reason in cases.items():
        with pytest.raises(BadImageError) as info:
            read_rgb(str(tmp_path / name))
        message = str(info.value)
        assert message.startswith(f'cannot read image file {tmp_path / name}: ')
        assert reason in message, message
        assert isinstance(info.value, OSError)
    np.testing.assert_array_equal(_read(tmp_path / 'full.png'), np.tile(rgb, (8, 8, 1)))


def test_find_images(tmp_path):
    for rel in ('b.JPG', 'a.png', 'sub/c.tiff', 'dir.jpg/inside.webp', 'notes.txt',
                '.hidden.jpg', 'out/old.png'):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b'x')
    expected = ['a.png', 'b.JPG', 'dir.jpg/inside.webp', 'out/old.png', 'sub/c.tiff']
    assert find_images(str(tmp_path)) == expected
    kept = [p for p in expected if not p.startswith('out/')]
    assert find_images(str(tmp_path), exclude=str(tmp_path / 'out')) == kept
    assert find_images(str(tmp_path), exclude=str(tmp_path)) == expected
