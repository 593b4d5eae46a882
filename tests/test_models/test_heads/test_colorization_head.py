import numpy as np
import pytest
import torch

from colorssl.color import load_ab_bins, save_prior
from colorssl.models.heads import ColorizationHead
from colorssl.models.heads.colorization_head import (avg_factor_from_count,
                                                     global_avg_factor)


def in_gamut_ab(n, h, w, seed=0):
    """ab drawn from the bin centres plus noise, so targets are realistic."""
    bins = load_ab_bins('original313')
    g = torch.Generator().manual_seed(seed)
    pick = bins[torch.randint(len(bins), (n * h * w, ), generator=g)]
    ab = pick + torch.randn(pick.shape, generator=g) * 3
    return ab.view(n, h, w, 2).permute(0, 3, 1, 2).contiguous()


def test_shapes_loss_and_predict():
    head = ColorizationHead(in_channels=8, prior='cifar10mini')
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
    head = ColorizationHead(in_channels=4, prior='cifar10mini')
    x = torch.randn(2, 4, 2, 2, requires_grad=True)
    head.loss((x, ), in_gamut_ab(2, 8, 8), torch.tensor([True,
                                                         False]))['loss'].backward()
    assert x.grad[1].abs().sum() == 0 and x.grad[0].abs().sum() > 0
    none = head.loss((x, ), in_gamut_ab(2, 8, 8), torch.tensor([False, False]))
    assert none['loss'].item() == 0  # nothing kept: 0, not nan


def test_prior_bin_count_mismatch_names_config_key(tmp_path):
    path = str(tmp_path / 'prior.npz')
    bins = load_ab_bins('srgb_reachable')
    save_prior(path, torch.ones(len(bins)) / len(bins), bins, meta=dict(source='test'))
    with pytest.raises(ValueError, match='model.head.prior'):
        ColorizationHead(in_channels=4, prior=path)
    # the same prior with the matching bin set is accepted
    ColorizationHead(in_channels=4, bins='srgb_reachable', prior=path)


@pytest.mark.parametrize('size,pred', [((8, 8), (2, 2)), ((11, 13), (2, 3)),
                                       ((16, 12), (4, 3))])
def test_nearest_target_resize_takes_released_pixels(size, pred):
    """The released stride-4 subsampling: rows and columns 0, 4, 8, ..."""
    head = ColorizationHead(in_channels=4, target_resize='nearest', prior=None)
    ab = torch.randn(2, 2, *size)
    small = head.resize_target(ab, pred)
    rows = [4 * i for i in range(pred[0])]
    cols = [4 * j for j in range(pred[1])]
    reference = ab.numpy()[:, :, rows][:, :, :, cols]
    np.testing.assert_array_equal(small.numpy(), reference)
    with pytest.raises(ValueError, match='target_resize'):
        ColorizationHead(in_channels=4, target_resize='bicubic')


def test_gray_test_on_subsampled_target():
    """gray_test='target': an image whose colour lies only between the sampled
    pixels is grayscale for the released code's test, not for the full one."""
    ab = torch.zeros(2, 2, 8, 8)
    ab[:, 0, 1, 1] = 40.  # between the sampled pixels (0, 4)
    ab[1, 1, 4, 4] = 30.  # image 1 also has colour on a sampled pixel
    feats = (torch.randn(2, 4, 2, 2, requires_grad=True), )
    full = ColorizationHead(in_channels=4, target_resize='nearest', prior=None)
    target = ColorizationHead(
        in_channels=4, target_resize='nearest', prior=None, gray_test='target')
    out = target.loss(feats, ab, torch.tensor([True, True]))
    assert out['num_gray'].item() == 1
    out['loss'].backward()
    assert feats[0].grad[0].abs().sum() == 0 and feats[0].grad[1].abs().sum() > 0
    assert 'num_gray' not in full.loss(feats, ab, torch.tensor([True, True]))
    with pytest.raises(ValueError, match='gray_test'):
        ColorizationHead(in_channels=4, gray_test='half')


def test_encode_targets_pixel_weight_is_nearest_bins_weight():
    head = ColorizationHead(in_channels=4, prior='cifar10mini')
    ab = in_gamut_ab(2, 5, 7, seed=3)
    idx, weight, pixel_weight = head.encode_targets(ab)
    assert idx.shape == weight.shape == (2, 5, 5, 7)
    assert pixel_weight.shape == (2, 5, 7)
    # Independent: the nearest bin by brute force, its class weight.
    bins = load_ab_bins('original313')
    d2 = ((ab.permute(0, 2, 3, 1)[..., None, :] - bins)**2).sum(-1)
    nearest = d2.argmin(-1)
    assert torch.equal(idx[:, 0], nearest)
    torch.testing.assert_close(pixel_weight, head.class_weights[nearest])
    plain = ColorizationHead(in_channels=4, prior=None)
    assert plain.encode_targets(ab)[2] is None


# ------------------------------------------------------------------ prior='auto'
def test_auto_prior_is_a_checkpointed_buffer():
    head = ColorizationHead(in_channels=4)  # prior='auto' is the default
    assert head.auto_prior and not head.has_prior
    with pytest.raises(RuntimeError, match="model.head.prior='auto'.*ColorPriorHook"):
        head.loss((torch.randn(1, 4, 2, 2), ), in_gamut_ab(1, 8, 8))
    bins = load_ab_bins('original313')
    prior = torch.rand(313, generator=torch.Generator().manual_seed(0))
    head.set_prior(prior, num_images=12, mean_ab=torch.tensor([1., 2.]))
    assert head.has_prior
    state = head.state_dict()
    assert {'prior', 'prior_mean_ab', 'prior_num_images'} <= set(state)
    # a fresh head (as tools/test.py and tools/colorize.py build it) takes the prior
    # and recomputes its weights from the checkpoint alone
    fresh = ColorizationHead(in_channels=4)
    fresh.load_state_dict(state)
    assert fresh.has_prior and int(fresh.prior_num_images) == 12
    p = (prior / prior.sum()).double()
    u = 1. / 313
    w = 1. / (0.5 * p + 0.5 * u)
    w = w / (p * w).sum()
    np.testing.assert_allclose(fresh.class_weights.numpy(), w.numpy(), rtol=1e-5)
    assert bins.shape == (313, 2)
    fresh.loss((torch.randn(1, 4, 2, 2), ), in_gamut_ab(1, 8, 8))


def test_named_and_missing_prior_files():
    named = ColorizationHead(in_channels=4, prior='cifar10mini')
    assert named.has_prior and int(named.prior_num_images) > 0
    with pytest.raises(FileNotFoundError, match='model.head.prior'):
        ColorizationHead(in_channels=4, prior='no/such/prior.npz')
    with pytest.raises(ValueError, match='prior_samples'):
        ColorizationHead(in_channels=4, prior_samples=0)


def test_avg_factor_makes_ddp_average_the_global_mean():
    """Two ranks with different kept-pixel counts: each divides its sum by
    global / world; the mean of the rank losses (DDP's gradient average) equals the
    single-process loss over all pixels."""
    sums = torch.tensor([12.0, 30.0])  # weighted loss sums of rank 0 and rank 1
    counts = torch.tensor([4.0, 20.0])  # kept pixels (rank 0 had grayscale images)
    factor = avg_factor_from_count(counts.sum(), world_size=2)
    assert factor.item() == 12.0
    ddp = (sums / factor).mean()
    assert ddp.item() == pytest.approx(sums.sum().item() / counts.sum().item())
    assert avg_factor_from_count(0, 2).item() == 0.5  # nothing kept: finite
    # not distributed: the local count itself
    assert global_avg_factor(torch.tensor(7)).item() == 7.0


def test_loss_divides_by_global_count_when_distributed(monkeypatch):
    """Through the public seam of the head module (its world size and all_reduce):
    rank 0 of 2 with 1 of 2 images kept, the other rank keeping 3 pixels' worth."""
    import colorssl.models.heads.colorization_head as mod
    head = ColorizationHead(in_channels=4, prior=None)
    feats = (torch.randn(2, 4, 2, 2), )
    ab = in_gamut_ab(2, 8, 8)
    mask = torch.tensor([True, False])
    local = head.loss(feats, ab, mask)['loss']  # sum / 4 kept pixels

    def fake_all_reduce(tensor, op='sum'):
        tensor.add_(12.)  # the other rank kept 12 pixels

    monkeypatch.setattr(mod, 'get_world_size', lambda: 2)
    monkeypatch.setattr(mod, 'all_reduce', fake_all_reduce)
    dist = head.loss(feats, ab, mask)['loss']  # sum / ((4 + 12) / 2)
    assert dist.item() == pytest.approx(local.item() * 4 / 8, rel=1e-5)


def test_image_normalisation_is_the_pixel_sum_over_the_batch():
    """loss_normalize='image' (the released Caffe loss): sum over the output pixels
    divided by the number of images, grayscale ones included."""
    torch.manual_seed(0)
    feats = (torch.randn(3, 8, 4, 4), )
    ab = in_gamut_ab(3, 16, 16)
    mask = torch.tensor([True, False, True])
    pixel = ColorizationHead(in_channels=8, prior='cifar10mini')
    image = ColorizationHead(in_channels=8, prior='cifar10mini', loss_normalize='image')
    image.load_state_dict(pixel.state_dict())
    per_pixel = pixel.loss(feats, ab, mask)['loss']  # sum / (2 images * 16 pixels)
    per_image = image.loss(feats, ab, mask)['loss']  # sum / 3 images
    torch.testing.assert_close(per_image, per_pixel * 2 * 16 / 3)
    with pytest.raises(ValueError, match='model.head.loss_normalize'):
        ColorizationHead(in_channels=8, loss_normalize='batch')
