"""sRGB <-> Lab against scikit-image (an independent implementation)."""
import warnings

import numpy as np
import pytest
import torch

from colorssl.color import lab_to_rgb, rgb8_to_lab, rgb_to_lab

skcolor = pytest.importorskip('skimage.color')


def rgb_cube(levels: int = 33) -> np.ndarray:
    """(3, levels^2, levels) sRGB values on a dense grid of the cube, plus
    values at the sRGB and Lab switch points."""
    v = np.linspace(0.0, 1.0, levels)
    r, g, b = np.meshgrid(v, v, v, indexing='ij')
    cube = np.stack([r, g, b]).reshape(3, levels * levels, levels)
    return cube


def sk_rgb2lab(rgb_chw: np.ndarray) -> np.ndarray:
    return skcolor.rgb2lab(rgb_chw, channel_axis=0)


def sk_lab2rgb(lab_chw: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        # skimage warns about (and clamps) negative Z, as we do.
        warnings.simplefilter('ignore')
        return skcolor.lab2rgb(lab_chw, channel_axis=0)


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_rgb_to_lab_matches_skimage_on_dense_cube(dtype):
    cube = rgb_cube()
    # Values around the sRGB linear/gamma switch (0.04045) and tiny ones.
    extra = np.array([0.0, 1e-6, 0.04, 0.04045, 0.0405, 0.2, 0.999, 1.0])
    special = np.stack(np.meshgrid(extra, extra, extra,
                                   indexing='ij')).reshape(3,
                                                           len(extra)**2, len(extra))
    for rgb in (cube, special):
        ours = rgb_to_lab(torch.from_numpy(rgb).to(dtype)).double().numpy()
        ref = sk_rgb2lab(rgb)
        assert ours.shape == rgb.shape
        np.testing.assert_allclose(ours, ref, atol=1e-3, rtol=0)
    assert ours[0].min() >= -1e-4 and ours[0].max() <= 100 + 1e-3


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_lab_to_rgb_matches_skimage_on_dense_lab_grid(dtype):
    # In- and out-of-gamut Lab colours; skimage clips to [0, 1] too.
    lum = np.linspace(0, 100, 21)
    ab = np.linspace(-120, 120, 25)
    grid = np.stack(np.meshgrid(lum, ab, ab, indexing='ij')).reshape(3, 21 * 25, 25)
    ours = lab_to_rgb(torch.from_numpy(grid).to(dtype)).double().numpy()
    np.testing.assert_allclose(ours, sk_lab2rgb(grid), atol=1e-3, rtol=0)
    # The Lab of real sRGB colours maps back to them.
    lab = sk_rgb2lab(rgb_cube(17))
    back = lab_to_rgb(torch.from_numpy(lab).to(dtype)).double().numpy()
    np.testing.assert_allclose(back, sk_lab2rgb(lab), atol=1e-3, rtol=0)
    np.testing.assert_allclose(back, rgb_cube(17), atol=1e-3, rtol=0)


def test_round_trip_and_batch_shapes():
    torch.manual_seed(0)
    rgb = torch.rand(2, 4, 3, 5, 6, dtype=torch.float64)
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape and lab.dtype == torch.float64
    torch.testing.assert_close(lab_to_rgb(lab), rgb, atol=1e-9, rtol=0)
    # Batched result equals per-image results.
    single = rgb_to_lab(rgb[1, 2])
    torch.testing.assert_close(lab[1, 2], single)


def test_clip_false_leaves_out_of_gamut_values():
    lab = torch.tensor([50.0, 100.0, -100.0], dtype=torch.float64).view(1, 3, 1, 1)
    raw = lab_to_rgb(lab, clip=False)
    assert raw.min() < 0 or raw.max() > 1
    torch.testing.assert_close(raw.clamp(0, 1), lab_to_rgb(lab))


def test_gradients_are_finite_including_black_and_switch_points():
    rgb = torch.tensor([0.0, 0.04045, 1e-7, 0.5, 1.0, 0.003],
                       dtype=torch.float64).view(1, 3, 1, 2)
    rgb.requires_grad_(True)
    rgb_to_lab(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all()
    lab = torch.tensor([0.0, 0.0, 0.0, 50.0, 20.0, -30.0],
                       dtype=torch.float64).view(1, 3, 1, 2)
    lab.requires_grad_(True)
    lab_to_rgb(lab, clip=False).sum().backward()
    assert torch.isfinite(lab.grad).all()


def test_gradcheck_away_from_switch_points():
    torch.manual_seed(0)
    rgb = (0.1 + 0.8 * torch.rand(1, 3, 2, 2, dtype=torch.float64))
    assert torch.autograd.gradcheck(rgb_to_lab, (rgb.requires_grad_(), ))
    lab = torch.tensor([60.0, 10.0, -20.0, 40.0, -5.0, 30.0],
                       dtype=torch.float64).view(1, 3, 1, 2)
    assert torch.autograd.gradcheck(lambda x: lab_to_rgb(x, clip=False),
                                    (lab.requires_grad_(), ))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r'\(\.\.\., 3, H, W\)'):
        rgb_to_lab(torch.rand(4, 5, 6))
    with pytest.raises(ValueError, match='lab'):
        lab_to_rgb(torch.rand(3, 5))
    with pytest.raises(TypeError, match='floating point'):
        rgb_to_lab(torch.zeros(3, 2, 2, dtype=torch.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    rgb = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(
        rgb_to_lab(rgb.cuda()).cpu(), rgb_to_lab(rgb), atol=1e-4, rtol=0)
    lab = rgb_to_lab(rgb)
    torch.testing.assert_close(
        lab_to_rgb(lab.cuda()).cpu(), lab_to_rgb(lab), atol=1e-5, rtol=0)


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_rgb8_to_lab_matches_skimage_on_every_code(dtype):
    # Every 8-bit code appears in every channel (a 256 x 256 x 3 image whose
    # channels are shifted copies of all codes), plus a strided cube sample.
    codes = np.arange(256, dtype=np.uint8)
    grid_r, grid_g = np.meshgrid(codes, codes, indexing='ij')
    img = np.stack([grid_r, grid_g, (grid_r + grid_g * 7) % 256]).astype(np.uint8)
    step = np.arange(0, 256, 15, dtype=np.uint8)
    r, g, b = np.meshgrid(step, step, step, indexing='ij')
    cube = np.stack([r, g, b]).reshape(3, len(step)**2, len(step))
    for rgb in (img, cube):
        ref = sk_rgb2lab(rgb.astype(np.float64) / 255.0)
        ours = rgb8_to_lab(torch.from_numpy(rgb), dtype=dtype)
        assert ours.dtype == dtype and ours.shape == rgb.shape
        np.testing.assert_allclose(ours.double().numpy(), ref, atol=1e-3, rtol=0)
        bgr = rgb8_to_lab(
            torch.from_numpy(rgb[::-1].copy()), dtype=dtype, channel_order='bgr')
        assert torch.equal(bgr, ours)
        # The same as rgb_to_lab of the 8-bit values (float rounding apart).
        float_rgb = torch.from_numpy(rgb).to(dtype) / 255
        torch.testing.assert_close(
            rgb_to_lab(float_rgb),
            ours,
            atol=1e-3 if dtype == torch.float32 else 1e-9,
            rtol=0)
    # Batched leading dims equal one image at a time.
    batch = torch.from_numpy(np.stack([img[:, :8, :9], img[:, 8:16, :9]]))
    torch.testing.assert_close(rgb8_to_lab(batch)[1], rgb8_to_lab(batch[1]))


def test_rgb8_to_lab_rejects_bad_input():
    with pytest.raises(TypeError, match='uint8'):
        rgb8_to_lab(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match=r'\(\.\.\., 3, H, W\)'):
        rgb8_to_lab(torch.zeros(4, 2, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match='channel_order'):
        rgb8_to_lab(torch.zeros(3, 2, 2, dtype=torch.uint8), channel_order='rbg')


def test_real_photos_match_skimage(photos):
    for images in photos.values():
        ref = np.stack(
            [skcolor.rgb2lab(img.numpy() / 255.0, channel_axis=0) for img in images])
        ours = rgb8_to_lab(images).double().numpy()
        np.testing.assert_allclose(ours, ref, atol=1e-3, rtol=0)
        back = lab_to_rgb(torch.from_numpy(ref)).numpy()
        np.testing.assert_allclose(back, images.numpy() / 255.0, atol=1e-6)


@pytest.mark.parametrize('shape', [(0, 3, 4, 5), (3, 0, 2), (2, 1, 3, 1, 1)])
def test_empty_and_odd_shapes(shape):
    for rgb in (torch.rand(shape), (torch.rand(shape) * 255).to(torch.uint8)):
        lab = rgb8_to_lab(rgb) if rgb.dtype == torch.uint8 else rgb_to_lab(rgb)
        assert lab.shape == rgb.shape
        assert lab_to_rgb(lab).shape == rgb.shape
