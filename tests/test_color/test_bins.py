"""ab bin sets: the shipped 313, the computed sRGB-reachable set, files."""
import numpy as np
import pytest
import torch

from colorssl.color import (AB_GRID, load_ab_bins, nearest_bin, rgb8_to_lab,
                            srgb_reachable_bins)
from colorssl.color.bins import ORIGINAL_313_FILE

skcolor = pytest.importorskip('skimage.color')


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


def skimage_cells(step: int) -> set:
    """ab grid cells (rounded to multiples of AB_GRID, as the paper
    quantises) of the 8-bit colours whose codes are multiples of ``step`` or
    255, converted by skimage."""
    codes = np.array(sorted(set(range(0, 256, step)) | {255}))
    rgb = np.stack(np.meshgrid(codes, codes, codes, indexing='ij'), -1)
    ab = skcolor.rgb2lab(rgb.reshape(-1, 1, 3) / 255.0)[:, 0, 1:]
    return {tuple(c) for c in np.round(ab / AB_GRID).astype(int) * AB_GRID}


def test_srgb_reachable_set_against_skimage():
    reached = {tuple(r) for r in srgb_reachable_bins().int().tolist()}
    # A dense sample (every 4th code, 275k colours) converted by skimage
    # reaches exactly the same cells: none missing, none extra.
    assert skimage_cells(4) == reached
    assert len(reached) == 261  # the count the README quotes
    shipped = {tuple(r) for r in load_ab_bins().int().tolist()}
    assert reached <= shipped
    assert torch.equal(load_ab_bins('srgb_reachable'), srgb_reachable_bins())
    assert srgb_reachable_bins().dtype == torch.float32
    with pytest.raises(ValueError, match='grid'):
        srgb_reachable_bins(0)


PRIMARIES = dict(
    red=(255, 0, 0),
    green=(0, 255, 0),
    blue=(0, 0, 255),
    yellow=(255, 255, 0),
    cyan=(0, 255, 255),
    magenta=(255, 0, 255),
    black=(0, 0, 0),
    white=(255, 255, 255))


def test_extreme_colours_reach_the_extreme_bins():
    names = list(PRIMARIES)
    rgb = torch.tensor([PRIMARIES[n] for n in names], dtype=torch.uint8)
    ab = rgb8_to_lab(rgb.t().reshape(1, 3, 1, -1))[:, 1:]
    reach = srgb_reachable_bins()
    for bins in (reach, load_ab_bins()):
        got = {
            n: tuple(bins[i].tolist())
            for n, i in zip(names,
                            nearest_bin(ab, bins).view(-1))
        }
        # Independent: skimage's Lab, numpy brute force over the bins.
        ref_ab = skcolor.rgb2lab(rgb.numpy()[:, None] / 255.0)[:, 0, 1:]
        d2 = ((ref_ab[:, None] - bins.double().numpy()[None])**2).sum(-1)
        ref = {n: tuple(bins[i].tolist()) for n, i in zip(names, d2.argmin(1))}
        assert got == ref
        # The extremes of a and b over all 8-bit colours.
        lo, hi = reach.min(0).values.tolist(), reach.max(0).values.tolist()
        assert got['green'][0] == lo[0] and got['magenta'][0] == hi[0]
        assert got['blue'][1] == lo[1] and got['yellow'][1] == hi[1]
        assert got['black'] == got['white'] == (0.0, 0.0)
    # The corners red, green, blue, yellow, magenta lie on the hull of the
    # reachable set; cyan does not (darker blue-greens reach further).
    spatial = pytest.importorskip('scipy.spatial')
    hull = spatial.ConvexHull(reach.double().numpy())

    def outside(p):  # max signed distance to the hull's facets
        return (hull.equations[:, :2] @ np.array(p) + hull.equations[:, 2]).max()

    for n in ('red', 'green', 'blue', 'yellow', 'magenta'):
        assert abs(outside(got[n])) < 1e-9, n
    assert outside(got['cyan']) < -1


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
