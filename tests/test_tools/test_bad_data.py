"""Bad input files through the tools.

``bad_folder``: a corrupt JPEG, a zero-byte file and a CMYK TIFF among good images,
through tools/train.py: ``on_error='skip'`` trains to the end and logs the skips (also
when they happen in DataLoader workers, and summed over two ranks); ``on_error='raise'``
stops naming the file. The CMYK TIFF is a valid image: it trains.

``sweep_folder``: good images plus a truncated JPEG, a zero-byte file, a PNG named
.jpg, a 1x1 image, a 16-bit PNG, a CMYK JPEG and a folder named ``dir.jpg`` (with a
good image inside), through tools/train.py, tools/colorize.py and
tools/compute_color_prior.py: each bad file is named, the skips are counted and the
count reported, every readable file is used.
"""
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from tool_helpers import (REPO_ROOT, cpu_dist_config, cpu_dist_env, free_port, run_tool,
                          train_cmd)

TINY_COLOR_CFG = REPO_ROOT / 'tests' / 'data' / 'configs' / (
    'tiny_colorization_imagefolder.py')
BAD = ('bad_corrupt.jpg', 'bad_empty.jpg')  # sorted first: indices 0 and 1
SKIP_LINE = re.compile(r'LoadRGBImage skipped file (\S+) ')
TOTAL_LINE = re.compile(
    r'LoadRGBImage skipped (\d+) unreadable image\(s\) so far \(([^)]*)\)')


@pytest.fixture(scope='module')
def bad_folder(tmp_path_factory):
    """``train/``: bad_corrupt.jpg, bad_empty.jpg, cmyk.tif and 6 good 32x32 PNGs."""
    from PIL import Image
    root = tmp_path_factory.mktemp('baddata')
    train = root / 'train'
    train.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        img = rng.integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
        Image.fromarray(img).save(train / f'img_{i}.png')
    (train / 'bad_corrupt.jpg').write_bytes(b'\xff\xd8\xff\xe0 this is not a JPEG')
    (train / 'bad_empty.jpg').write_bytes(b'')
    cmyk = rng.integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
    Image.fromarray(cmyk).convert('CMYK').save(train / 'cmyk.tif')
    with Image.open(train / 'cmyk.tif') as img:
        assert img.mode == 'CMYK'
    return root


def _options(root, *extra):
    return [
        '--no-validate', '--cfg-options', f'train_dataloader.dataset.data_root={root}',
        *extra
    ]


def _skips(output):
    """(files named by the per-file warnings, last logged total, where)."""
    named = SKIP_LINE.findall(output)
    totals = TOTAL_LINE.findall(output)
    total, where = totals[-1] if totals else (0, '')
    return named, int(total), where


def _train_to_the_end(folder, tmp_path, *options):
    """tools/train.py on ``folder`` (4 iterations); the finished process."""
    work_dir = tmp_path / 'work'
    proc = run_tool(
        train_cmd(work_dir, *_options(folder, *options), config=TINY_COLOR_CFG),
        cwd=tmp_path)
    assert (work_dir / 'iter_4.pth').is_file()
    return proc


# Through DataLoader workers (the counts must reach the main process); without
# workers, see tests/test_datasets/test_transforms/test_loading.py.
@pytest.mark.parametrize('workers', [2])
def test_skip_trains_to_the_end_and_counts(bad_folder, tmp_path, workers):
    proc = _train_to_the_end(bad_folder, tmp_path,
                             f'train_dataloader.num_workers={workers}')
    named, total, where = _skips(proc.stdout)
    assert {p.rsplit('/', 1)[-1] for p in named} == set(BAD), named
    # every skip the workers made reached the main process's total
    assert total == len(named) >= 2 and where == 'one process'
    assert 'cmyk.tif' not in ' '.join(named)


@pytest.mark.parametrize('workers', [1])  # the error comes from a worker
def test_raise_stops_naming_the_file(bad_folder, tmp_path, workers):
    proc = run_tool(
        train_cmd(
            tmp_path / 'work',
            *_options(bad_folder, 'train_dataloader.dataset.pipeline.0.on_error=raise',
                      f'train_dataloader.num_workers={workers}'),
            config=TINY_COLOR_CFG),
        cwd=tmp_path,
        expect_ok=False)
    assert proc.returncode != 0
    last = proc.stdout.strip().splitlines()[-1]
    assert re.match(r'([\w.]+\.)?BadImageError: cannot read image file', last) and \
        last.find(str(bad_folder / 'train' / BAD[0])) > 0, last
    assert "on_error='skip'" in last


def test_dist_skips_are_summed_over_ranks(bad_folder, tmp_path):
    """Distributed: tools/dist_train.sh, 2 CPU processes (gloo, the cpu_dist test
    plugin). Rank 0 reads
    indices 0, 2, ... (bad_corrupt.jpg), rank 1 reads 1, 3, ... (bad_empty.jpg);
    the logged total is the sum of both ranks' skips."""
    env = cpu_dist_env()
    env.update(PYTHON=sys.executable, PORT=str(free_port()))
    config = cpu_dist_config(Path(TINY_COLOR_CFG), tmp_path)
    proc = run_tool([
        'bash', REPO_ROOT / 'tools' / 'dist_train.sh', config, '2', '--work-dir',
        tmp_path / 'work', *_options(bad_folder)
    ],
                    cwd=tmp_path,
                    env=env)
    named, total, where = _skips(proc.stdout)
    assert {p.rsplit('/', 1)[-1] for p in named} == set(BAD), named
    assert where == 'summed over 2 ranks'
    assert total == len(named) >= 2


# ------------------------------------------------------------------ the sweep
SWEEP_UNREADABLE = ('empty.jpg', 'truncated.jpg')
SWEEP_READABLE = ('cmyk.jpg', 'dir.jpg/inside.png', 'good_0.png', 'good_1.png',
                  'good_2.png', 'good_3.png', 'gray16.png', 'png_named.jpg', 'tiny.png')


@pytest.fixture(scope='module')
def sweep_folder(tmp_path_factory):
    """``train/``: the files of SWEEP_UNREADABLE and SWEEP_READABLE; all readable ones
    are 32x32 except ``tiny.png`` (1x1, a red pixel); ``gray16.png`` is the only
    grayscale one."""
    from PIL import Image
    train = tmp_path_factory.mktemp('sweep') / 'train'
    (train / 'dir.jpg').mkdir(parents=True)
    rng = np.random.default_rng(1)

    def colour():
        return Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))

    for i in range(4):
        colour().save(train / f'good_{i}.png')
    colour().save(train / 'dir.jpg' / 'inside.png')
    colour().save(train / 'png_named.jpg', format='PNG')
    colour().convert('CMYK').save(train / 'cmyk.jpg', quality=95)
    gray16 = rng.integers(0, 65536, (32, 32)).astype(np.uint16)
    Image.fromarray(gray16).save(train / 'gray16.png')
    Image.fromarray(np.array([[[200, 30, 30]]], np.uint8)).save(train / 'tiny.png')
    big = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    big.save(train / 'whole.jpg', quality=90)
    data = (train / 'whole.jpg').read_bytes()
    (train / 'whole.jpg').unlink()
    (train / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    (train / 'empty.jpg').write_bytes(b'')
    modes = {'cmyk.jpg': 'CMYK', 'gray16.png': 'I;16', 'png_named.jpg': 'RGB'}
    for name, mode in modes.items():
        with Image.open(train / name) as img:
            assert img.mode == mode, name
    listed = [p.relative_to(train).as_posix() for p in train.rglob('*')]
    listed = sorted(p for p in listed if (train / p).is_file())
    assert listed == sorted(SWEEP_UNREADABLE + SWEEP_READABLE)
    return train.parent


def test_sweep_train(sweep_folder, tmp_path):
    """11 samples (``dir.jpg`` is a folder: its image is a sample), drawn in order
    (``shuffle=False``) by 4 iterations of 3: every file is loaded at least once.
    ``min_size=32`` (the images are batched uncropped) skips the 1x1 image too; the
    skipped files are exactly the three bad ones, every other file trained."""
    proc = _train_to_the_end(sweep_folder, tmp_path,
                             'train_dataloader.dataset.pipeline.0.min_size=32')
    named, total, _ = _skips(proc.stdout)
    train = sweep_folder / 'train'
    assert set(named) == {str(train / n) for n in SWEEP_UNREADABLE + ('tiny.png', )}
    assert total == len(named) >= 3
    size_error = r'tiny\.png is 1x1 \(HxW\) pixels, below LoadRGBImage min_size=32'
    assert re.search(size_error, proc.stdout)
    assert 'truncated' in proc.stdout and 'empty file' in proc.stdout


def test_sweep_colorize(sweep_folder, tmp_path):
    """Every readable file (the 1x1 one too) is colorized at its own size; the two
    unreadable ones are named and counted."""
    import torch
    from PIL import Image

    from colorssl.apis import load_model
    torch.manual_seed(0)
    _, model = load_model(str(TINY_COLOR_CFG))
    model.init_weights()
    checkpoint = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    out = tmp_path / 'out'
    tool = REPO_ROOT / 'tools' / 'colorize.py'
    args = ['--out-dir', out, '--size', '16', '--skip-bad', '--batch-size', '4']
    cmd = [sys.executable, tool, TINY_COLOR_CFG, checkpoint, sweep_folder / 'train']
    proc = run_tool(cmd + args, cwd=tmp_path)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob('*.png'))
    assert written == sorted(str(Path(n).with_suffix('.png')) for n in SWEEP_READABLE)
    for name in SWEEP_READABLE:
        with Image.open(sweep_folder / 'train' / name) as src, \
                Image.open(out / Path(name).with_suffix('.png')) as res:
            assert res.size == src.size and res.mode == 'RGB', name
    assert f'colorized {len(SWEEP_READABLE)} image(s)' in proc.stdout
    assert f'skipped {len(SWEEP_UNREADABLE)} unreadable file(s):' in proc.stdout
    for name in SWEEP_UNREADABLE:
        assert str(sweep_folder / 'train' / name) in proc.stdout, name


def test_sweep_compute_color_prior(sweep_folder, tmp_path):
    """Every readable colour file is counted (its pixels too), the 16-bit gray one
    is skipped as grayscale, the two unreadable ones are named and counted."""
    from colorssl.color import load_prior
    prior = tmp_path / 'prior.npz'
    tool = REPO_ROOT / 'tools' / 'compute_color_prior.py'
    proc = run_tool([sys.executable, tool, sweep_folder / 'train', '--out', prior],
                    cwd=tmp_path)
    meta = load_prior(prior)['meta']
    assert meta['num_images_found'] == len(SWEEP_READABLE + SWEEP_UNREADABLE)
    assert meta['num_images_used'] == len(SWEEP_READABLE) - 1
    assert meta['skipped_grayscale'] == 1
    assert meta['corrupt_files'] == list(SWEEP_UNREADABLE)
    assert meta['num_pixels'] == (len(SWEEP_READABLE) - 2) * 32 * 32 + 1
    assert (f'{len(SWEEP_READABLE) - 1} images used, 1 grayscale and 2 unreadable '
            'skipped') in proc.stdout
    for name in SWEEP_UNREADABLE:
        assert f'cannot read image file {sweep_folder / "train" / name}' in proc.stdout
