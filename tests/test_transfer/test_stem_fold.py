"""The RGB -> L fit and its folding into a conv, against numpy / skimage references."""
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from skimage.color import rgb2lab

from colorssl.models.transfer import (fit_srgb_to_lightness, fold_l_into_rgb_conv,
                                      gray_fit)


def np_conv(x, w, b=None, pad=0):
    """Naive cross-correlation: x (C, H, W), w (O, C, k, k) -> (O, H', W')."""
    k = w.shape[-1]
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, (k, k), axis=(1, 2))  # (C, H', W', k, k)
    out = np.einsum('chwij,ocij->ohw', win, w)
    if b is not None:
        out = out + b[:, None, None]
    return out


def test_cube_fit_matches_numpy_lstsq_on_skimage_lightness():
    steps = 17
    g = np.linspace(0, 1, steps)
    rgb = np.stack(np.meshgrid(g, g, g, indexing='ij'), -1).reshape(-1, 3)
    lum = rgb2lab(rgb.reshape(-1, 1, 3))[..., 0].reshape(-1)
    design = np.concatenate([rgb, np.ones((len(rgb), 1))], 1)
    ref, *_ = np.linalg.lstsq(design, lum, rcond=None)
    ours = fit_srgb_to_lightness(num_steps=steps).numpy()
    np.testing.assert_allclose(ours, ref, atol=2e-3)
    # The documented default fit (64 steps) and its RMS error on the grid.
    fit = fit_srgb_to_lightness().numpy()
    np.testing.assert_allclose(fit, [23.03, 63.29, 8.61, 10.13], atol=0.01)
    g = np.linspace(0, 1, 64)
    rgb = np.stack(np.meshgrid(g, g, g, indexing='ij'), -1).reshape(-1, 3)
    lum = rgb2lab(rgb.reshape(-1, 1, 3))[..., 0].reshape(-1)
    rms = np.sqrt(np.mean((rgb @ fit[:3] + fit[3] - lum)**2))
    assert rms == pytest.approx(4.46, abs=0.01)


def test_fit_on_samples_recovers_an_affine_map():
    # On gray colours L is a known function; on an affine target the fit is exact.
    rgb = torch.rand(500, 3, dtype=torch.float64)
    fit = fit_srgb_to_lightness(samples=rgb)
    lum = rgb2lab(rgb.numpy().reshape(-1, 1, 3))[..., 0].reshape(-1)
    design = np.concatenate([rgb.numpy(), np.ones((500, 1))], 1)
    ref, *_ = np.linalg.lstsq(design, lum, rcond=None)
    np.testing.assert_allclose(fit.numpy(), ref, atol=1e-6)
    with pytest.raises(ValueError, match=r'samples must have shape \(N, 3\)'):
        fit_srgb_to_lightness(samples=torch.rand(10, 4))


@pytest.mark.parametrize('with_bias', [True, False])
def test_fold_equals_l_conv_away_from_borders(with_bias):
    rng = np.random.default_rng(0)
    out_ch, k, pad = 6, 5, 2
    w = rng.normal(size=(out_ch, 1, k, k))
    b = rng.normal(size=out_ch) if with_bias else None
    mean = np.array([110., 120., 100.])
    std = np.array([50., 60., 55.])
    l_cent, l_norm = 45., 3.
    fit = np.array([20., 60., 10., 12.])  # any affine RGB -> L map
    pixels = rng.uniform(0, 255, size=(3, 20, 24))
    lum = np.tensordot(fit[:3], pixels / 255., axes=1) + fit[3]
    x_l = (lum - l_cent) / l_norm
    x_rgb = (pixels - mean[:, None, None]) / std[:, None, None]

    new_w, offset = fold_l_into_rgb_conv(
        torch.tensor(w), None if b is None else torch.tensor(b), mean, std, l_cent,
        l_norm, fit)
    assert new_w.shape == (out_ch, 3, k, k) and offset.shape == (out_ch, )
    ref = np_conv(x_l[None], w, b, pad)
    ours = np_conv(x_rgb, new_w.numpy(), (0 if b is None else b) + offset.numpy(), pad)
    inner = (slice(None), slice(pad, -pad), slice(pad, -pad))
    np.testing.assert_allclose(ours[inner], ref[inner], rtol=1e-9, atol=1e-9)
    # At the zero-padded border the two differ (0 is L = l_cent vs. pixel = mean).
    assert np.abs(ours[:, 0, 0] - ref[:, 0, 0]).max() > 1e-3


def test_fold_with_sRGB_fit_approximates_true_lightness():
    # Folded conv on RGB vs. the L conv on the *true* CIE L: error of the fit only.
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 1, 3, 3)) / 3
    pixels = rng.integers(0, 256, size=(3, 16, 16)).astype(np.float64)
    lum = rgb2lab((pixels / 255.).transpose(1, 2, 0))[..., 0]
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    new_w, offset = fold_l_into_rgb_conv(torch.tensor(w), None, mean, std)
    ref = np_conv((lum - 50.)[None], w)
    ours = np_conv((pixels - mean[:, None, None]) / std[:, None, None], new_w.numpy(),
                   offset.numpy())
    # Per-pixel L error of the fit is ~4.5 RMS on uniform colours; the conv sums 9
    # pixels with weights of norm 1: the response error is of that order, not 0.
    err = np.sqrt(np.mean((ours - ref)**2))
    assert 0.5 < err < 15


@pytest.mark.parametrize('channels', [1, 3])
def test_gray_fit_is_exact_for_lightness_gray(channels):
    rng = np.random.default_rng(2)
    w = rng.normal(size=(5, 1, 3, 3))
    b = rng.normal(size=5)
    lum = rng.uniform(0, 100, size=(12, 12))
    gray = np.repeat((2.55 * lum)[None], channels, 0)
    mean = rng.uniform(80, 140, size=channels)
    std = rng.uniform(40, 70, size=channels)
    new_w, offset = fold_l_into_rgb_conv(
        torch.tensor(w), torch.tensor(b), mean, std, 50., 1., gray_fit(channels))
    ref = np_conv(((lum - 50.) / 1.)[None], w, b)
    ours = np_conv((gray - mean[:, None, None]) / std[:, None, None], new_w.numpy(),
                   b + offset.numpy())
    np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_gray_single_channel_with_lightness_normalisation_is_identity():
    # mean = 2.55 * l_cent, std = 2.55 * l_norm: the normalised gray *is* x_L.
    w = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    new_w, offset = fold_l_into_rgb_conv(w, None, [2.55 * 40], [2.55 * 2], 40., 2.,
                                         gray_fit(1))
    torch.testing.assert_close(new_w, w)
    torch.testing.assert_close(offset, torch.zeros(4, dtype=torch.float64))


def test_replicated_l_stem_is_summed():
    w3 = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    fit = [20., 60., 10., 12.]
    mean, std = [100.] * 3, [50.] * 3
    a = fold_l_into_rgb_conv(w3, None, mean, std, fit=fit)
    b = fold_l_into_rgb_conv(w3.sum(1, keepdim=True), None, mean, std, fit=fit)
    torch.testing.assert_close(a, b)


def test_fold_errors():
    w = torch.randn(4, 1, 3, 3)
    with pytest.raises(ValueError, match=r'weight must be \(O, 1, k, k\)'):
        fold_l_into_rgb_conv(torch.randn(4, 3, 3), None, [0.] * 3, [1.] * 3)
    with pytest.raises(ValueError, match='std must have 3 values'):
        fold_l_into_rgb_conv(w, None, [0.] * 3, [1.] * 2)
    with pytest.raises(ValueError, match='std must be > 0'):
        fold_l_into_rgb_conv(w, None, [0.] * 3, [1., 0., 1.])
    with pytest.raises(ValueError, match='default sRGB fit needs 3 channels'):
        fold_l_into_rgb_conv(w, None, [0.], [1.])
    with pytest.raises(ValueError, match='fit must have 4 values'):
        fold_l_into_rgb_conv(w, None, [0.] * 3, [1.] * 3, fit=[1., 2.])
    with pytest.raises(ValueError, match=r'bias must have shape \(4,\)'):
        fold_l_into_rgb_conv(w, torch.zeros(3), [0.] * 3, [1.] * 3)
    with pytest.raises(ValueError, match='l_norm must be > 0'):
        fold_l_into_rgb_conv(w, None, [0.] * 3, [1.] * 3, l_norm=0.)
