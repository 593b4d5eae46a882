"""tools/compute_color_prior.py end to end on a small generated folder."""
import importlib.util
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from tool_helpers import REPO_ROOT, run_tool

from colorssl.color import load_ab_bins, load_prior

skcolor = pytest.importorskip('skimage.color')


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'compute_color_prior', REPO_ROOT / 'tools' / 'compute_color_prior.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_folder(root):
    """Colour images in several PIL modes and formats (nested folders), a
    grayscale one, a 16-bit grayscale one, an unreadable file and a
    non-image. Returns the (H, W, 3) uint8 RGB content of the colour ones."""
    rng = np.random.default_rng(0)
    (root / 'a' / 'deep').mkdir(parents=True)
    (root / 'b').mkdir()
    colour = {}

    def rgb(h=6, w=5):
        return rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)

    x = rgb()
    Image.fromarray(x).save(root / 'a' / 'plain.png')
    colour['a/plain.png'] = x
    x = rgb()
    Image.fromarray(x).save(root / 'a' / 'deep' / 'bitmap.BMP')
    colour['a/deep/bitmap.BMP'] = x
    x = rgb()
    alpha = rng.integers(0, 256, size=x.shape[:2]).astype(np.uint8)
    Image.fromarray(np.dstack([x, alpha]), 'RGBA').save(root / 'b' / 'rgba.png')
    a = alpha[..., None] / 255.  # read_rgb composites alpha onto white
    colour['b/rgba.png'] = np.rint(x * a + 255. * (1. - a)).astype(np.uint8)
    pal = Image.fromarray(rgb()).quantize(colors=16)
    pal.save(root / 'b' / 'palette.png')
    colour['b/palette.png'] = np.asarray(pal.convert('RGB'))
    cmyk = Image.fromarray(rgb()).convert('CMYK')
    cmyk.save(root / 'b' / 'cmyk.jpeg', quality=95)
    with Image.open(root / 'b' / 'cmyk.jpeg') as img:
        colour['b/cmyk.jpeg'] = np.asarray(img.convert('RGB'))
    Image.fromarray(rng.integers(0, 256, (7, 7)).astype(np.uint8),
                    'L').save(root / 'b' / 'gray.jpg')
    Image.fromarray(rng.integers(0, 65535, (4, 4)).astype(np.uint16)).save(root / 'a' /
                                                                           'gray16.png')
    (root / 'a' / 'broken.jpg').write_bytes(b'\xff\xd8 this is not a jpeg')
    (root / 'b' / 'notes.txt').write_text('not an image')
    return colour


def expected_counts(colour, bins):
    """Independent reference: skimage Lab, brute-force nearest bin."""
    ab = np.concatenate(
        [skcolor.rgb2lab(x / 255.0)[..., 1:].reshape(-1, 2) for x in colour.values()])
    d2 = ((ab[:, None, :] - bins[None])**2).sum(-1)
    return np.bincount(d2.argmin(1), minlength=len(bins))


def test_in_process_counts_skips_and_meta(tmp_path, capsys):
    data = tmp_path / 'data'
    colour = make_folder(data)
    out = tmp_path / 'prior.npz'
    meta = load_tool().main([str(data), '--sigma', '5', '--out', str(out)])
    captured = capsys.readouterr()
    assert 'broken.jpg' in captured.out + captured.err
    assert meta['num_images_found'] == 8
    assert meta['num_images_used'] == len(colour) == 5
    assert meta['skipped_grayscale'] == 2
    assert meta['skipped_corrupt'] == 1
    assert meta['corrupt_files'] == ['a/broken.jpg']
    prior = load_prior(out)
    assert prior['meta'] == meta
    bins = load_ab_bins().double().numpy()
    ref = expected_counts(colour, bins)
    np.testing.assert_array_equal(prior['counts'].numpy(), ref)
    # Smoothing: Gaussian over bin centres, renormalised.
    d2 = ((bins[:, None] - bins[None])**2).sum(-1)
    smooth = np.exp(-d2 / 50.0) @ (ref / ref.sum())
    np.testing.assert_allclose(
        prior['prior'].numpy(), smooth / smooth.sum(), rtol=1e-9, atol=1e-15)
    assert meta['sigma'] == 5.0 and meta['smoothed']
    assert meta['command'].startswith('python tools/compute_color_prior.py ')


def test_max_images_and_other_bins(tmp_path):
    data = tmp_path / 'data'
    make_folder(data)
    bins_file = tmp_path / 'bins.csv'
    bins_file.write_text('a,b\n0,0\n50,50\n-50,-50\n')
    out = tmp_path / 'p.npz'
    tool = load_tool()
    meta = tool.main([
        str(data), '--bins',
        str(bins_file), '--sigma', '0', '--max-images', '3', '--out',
        str(out)
    ])
    assert meta['num_images_considered'] == 3
    assert (meta['num_images_used'] + meta['skipped_grayscale'] +
            meta['skipped_corrupt']) == 3
    prior = load_prior(out)
    assert prior['bins'].shape == (3, 2) and not meta['smoothed']
    counts = prior['counts'].double()
    torch.testing.assert_close(prior['prior'], counts / counts.sum())
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / 'nowhere'), '--out', str(out)])
    with pytest.raises(SystemExit):
        tool.main([str(data), '--sigma', '-1'])


def test_command_line(tmp_path):
    data = tmp_path / 'data'
    make_folder(data)
    out = tmp_path / 'cli.npz'
    proc = run_tool([
        sys.executable, REPO_ROOT / 'tools' / 'compute_color_prior.py', data, '--out',
        out
    ],
                    cwd=tmp_path)
    assert 'broken.jpg' in proc.stdout
    assert '5 images used' in proc.stdout
    meta = load_prior(out)['meta']
    assert meta['command'].endswith(f'--out {out}')
    assert meta['data_dir'] == str(data)
