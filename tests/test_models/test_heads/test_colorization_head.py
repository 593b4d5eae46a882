import numpy as np
import pytest
import torch

from colorssl.color import load_ab_bins, save_prior
from colorssl.models.heads import ColorizationHead


def in_gamut_ab(n, h, w, seed=0):
    """ab drawn from the bin centres plus noise, so targets are realistic."""
    bins = load_ab_bins('original313')
    g = torch.Generator().manual_seed(seed)
    pick = bins[torch.randint(len(bins), (n * h * w, ), generator=g)]
    ab = pick + torch.randn(pick.shape, generator=g) * 3
    return ab.view(n, h, w, 2).permute(0, 3, 1, 2).contiguous()


def test_shapes_loss_and_predict():
    head = ColorizationHead(in_channels=8)
    feats = (torch.randn(2, 8, 4, 4), )
    gt_ab = in_gamut_ab(2, 16, 16)
    losses = head.loss(feats, gt_ab)
    assert losses['loss'].dim() == 0 and losses['loss'].item() > 0
    assert head(feats, (16, 16)).shape == (2, 313, 4, 4)
    pred = head.predict(feats, (16, 16))
    assert pred.shape == (2, 2, 16, 16)
    # a head at another stride is resized to 1/4 of the input
    assert head((torch.randn(2, 8, 1, 1), ), (16, 16)).shape == (2, 313, 4, 4)


def test_rebalancing_weights_rare_colours_more(tmp_path):
    bins = load_ab_bins('original313')
    prior = torch.full((313, ), 1e-4)
    common = int(((bins - torch.tensor([0., 0.])).norm(dim=1)).argmin())
    prior[common] = 1.
    prior /= prior.sum()
    path = str(tmp_path / 'prior.npz')
    save_prior(path, prior, bins, meta=dict(source='test'))
    head = ColorizationHead(in_channels=4, prior=path, rebalance_lambda=0.5)
    w = head.class_weights
    assert w[common] < w[(common + 50) % 313]
    np.testing.assert_allclose((prior * w).sum().item(), 1., rtol=1e-4)
    plain = ColorizationHead(in_channels=4, prior=None)
    assert torch.all(plain.class_weights == 1)


def test_gray_samples_have_no_loss_gradient():
    head = ColorizationHead(in_channels=4)
    x = torch.randn(2, 4, 2, 2, requires_grad=True)
    head.loss((x, ), in_gamut_ab(2, 8, 8), torch.tensor([True, False]))['loss'].backward()
    assert x.grad[1].abs().sum() == 0 and x.grad[0].abs().sum() > 0


def test_prior_bin_count_mismatch_names_config_key(tmp_path):
    path = str(tmp_path / 'prior.npz')
    bins = load_ab_bins('srgb_reachable')
    save_prior(path, torch.ones(len(bins)) / len(bins), bins, meta=dict(source='test'))
    with pytest.raises(ValueError, match='model.head.prior'):
        ColorizationHead(in_channels=4, prior=path)
    # the same prior with the matching bin set is accepted
    ColorizationHead(in_channels=4, bins='srgb_reachable', prior=path)


def test_nearest_target_resize_point_samples():
    head = ColorizationHead(in_channels=4, target_resize='nearest')
    ab = torch.arange(2 * 8 * 8, dtype=torch.float32).view(1, 2, 8, 8)
    small = head.resize_target(ab, (2, 2))
    torch.testing.assert_close(small, ab[:, :, 2::4, 2::4])
    with pytest.raises(ValueError, match='target_resize'):
        ColorizationHead(in_channels=4, target_resize='bicubic')


def test_encode_targets_pixel_weight_is_nearest_bins_weight():
    head = ColorizationHead(in_channels=4)
    ab = in_gamut_ab(2, 5, 7, seed=3)
    idx, weight, pixel_weight = head.encode_targets(ab)
    assert idx.shape == weight.shape == (2, 5, 5, 7)
    assert pixel_weight.shape == (2, 5, 7)
    # Independent: the nearest bin by brute force, its class weight.
    bins = load_ab_bins('original313')
    d2 = ((ab.permute(0, 2, 3, 1)[..., None, :] - bins) ** 2).sum(-1)
    nearest = d2.argmin(-1)
    assert torch.equal(idx[:, 0], nearest)
    torch.testing.assert_close(pixel_weight, head.class_weights[nearest])
    plain = ColorizationHead(in_channels=4, prior=None)
    assert plain.encode_targets(ab)[2] is None
