"""A training set with a corrupt JPEG, a zero-byte file and a CMYK TIFF among good
images, through tools/train.py: ``on_error='skip'`` trains to the end and logs the
skips (also when they happen in DataLoader workers, and summed over two ranks);
``on_error='raise'`` stops naming the file. The CMYK TIFF is a valid image: it
trains."""
import re
import sys

import numpy as np
import pytest
from tool_helpers import REPO_ROOT, free_port, run_tool, tool_env, train_cmd

TINY_COLOR_CFG = REPO_ROOT / 'tests' / 'data' / 'configs' / (
    'tiny_colorization_imagefolder.py')
BAD = ('bad_corrupt.jpg', 'bad_empty.jpg')  # sorted first: indices 0 and 1
SKIP_LINE = re.compile(r'LoadRGBImage skipped unreadable file (\S+) ')
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


# Through DataLoader workers (the counts must reach the main process); without
# workers, see tests/test_datasets/test_transforms/test_loading.py.
@pytest.mark.parametrize('workers', [2])
def test_skip_trains_to_the_end_and_counts(bad_folder, tmp_path, workers):
    work_dir = tmp_path / 'work'
    proc = run_tool(
        train_cmd(
            work_dir,
            *_options(bad_folder, f'train_dataloader.num_workers={workers}'),
            config=TINY_COLOR_CFG),
        cwd=tmp_path)
    assert (work_dir / 'iter_4.pth').is_file()
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
    assert last.startswith('OSError: cannot read image file') and last.find(
        str(bad_folder / 'train' / BAD[0])) > 0, last
    assert "on_error='skip'" in last


def test_dist_skips_are_summed_over_ranks(bad_folder, tmp_path):
    """Distributed: tools/dist_train.sh, 2 CPU processes (gloo). Rank 0 reads
    indices 0, 2, ... (bad_corrupt.jpg), rank 1 reads 1, 3, ... (bad_empty.jpg);
    the logged total is the sum of both ranks' skips."""
    env = tool_env()
    env.update(PYTHON=sys.executable, PORT=str(free_port()))
    proc = run_tool([
        'bash', REPO_ROOT / 'tools' / 'dist_train.sh', TINY_COLOR_CFG, '2',
        '--work-dir', tmp_path / 'work', *_options(bad_folder)
    ],
                    cwd=tmp_path,
                    env=env)
    named, total, where = _skips(proc.stdout)
    assert {p.rsplit('/', 1)[-1] for p in named} == set(BAD), named
    assert where == 'summed over 2 ranks'
    assert total == len(named) >= 2
