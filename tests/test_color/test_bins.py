"""ab bin sets: the shipped 313, the computed sRGB-reachable set, files."""
import numpy as np
import pytest
import torch

from colorssl.color import AB_GRID, load_ab_bins, srgb_reachable_bins
from colorssl.color.bins import ORIGINAL_313_FILE


def test_original313_is_the_shipped_file_in_order():
    bins = load_ab_bins()
    assert bins.shape == (313, 2) and bins.dtype == torch.float32
    with open(ORIGINAL_313_FILE) as f:
        assert f.readline().strip() == 'a,b'
        rows = [tuple(float(v) for v in line.split(',')) for line in f]
    assert [tuple(r) for r in bins.tolist()] == rows
    # Grid points, distinct, sorted by a then b.
    assert torch.equal(bins, torch.round(bins / AB_GRID) * AB_GRID)
    assert len({tuple(r) for r in rows}) == 313
    assert rows == sorted(rows)


def test_srgb_reachable_set_is_261_bins_inside_the_shipped_313():
    reach = srgb_reachable_bins()
    assert reach.shape == (261, 2)
    shipped = {tuple(r) for r in load_ab_bins().int().tolist()}
    reached = {tuple(r) for r in reach.int().tolist()}
    assert len(reached) == 261 and reached <= shipped
    assert torch.equal(load_ab_bins('srgb_reachable'), reach)


def test_reachable_set_contains_skimage_rounded_colours():
    # Independent check with skimage on random 8-bit colours.
    skcolor = pytest.importorskip('skimage.color')
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(20000, 1, 3)) / 255.0
    ab = skcolor.rgb2lab(rgb)[:, 0, 1:]
    cells = {tuple(c) for c in (np.round(ab / AB_GRID) * AB_GRID).astype(int)}
    reached = {tuple(r) for r in srgb_reachable_bins().int().tolist()}
    assert cells <= reached
    # The extremes of the cube reach the corners of the set.
    assert (0, 0) in reached


def test_load_csv_and_npy(tmp_path):
    arr = np.array([[0.0, 0.0], [10.0, -20.0], [30.0, 5.0]])
    csv = tmp_path / 'bins.csv'
    csv.write_text('a,b\n' + '\n'.join(f'{a},{b}' for a, b in arr) + '\n')
    npy = tmp_path / 'bins.npy'
    np.save(npy, arr)
    for path in (csv, npy):
        out = load_ab_bins(str(path))
        assert out.dtype == torch.float32
        np.testing.assert_array_equal(out.numpy(), arr)


@pytest.mark.parametrize('content,match', [
    ('x,y\n1,2\n', "'a,b'"),
    ('a,b\n1,2,3\n', r'a,b'),
    ('a,b\n', r'\(Q, 2\)|shape'),
])
def test_bad_csv_names_the_file(tmp_path, content, match):
    path = tmp_path / 'bad.csv'
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as e:
        load_ab_bins(str(path))
    assert str(path) in str(e.value)


def test_bad_npy_and_paths_name_the_file(tmp_path):
    path = tmp_path / 'bad.npy'
    np.save(path, np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r'\(Q, 2\)') as e:
        load_ab_bins(str(path))
    assert str(path) in str(e.value)
    missing = tmp_path / 'missing.csv'
    with pytest.raises(ValueError, match='no such file') as e:
        load_ab_bins(str(missing))
    assert str(missing) in str(e.value)
    other = tmp_path / 'bins.txt'
    other.write_text('a,b\n0,0\n')
    with pytest.raises(ValueError, match='extension'):
        load_ab_bins(str(other))
    dup = tmp_path / 'dup.csv'
    dup.write_text('a,b\n0,0\n0,0\n')
    with pytest.raises(ValueError, match='duplicate'):
        load_ab_bins(str(dup))
