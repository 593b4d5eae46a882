import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import colorssl  # noqa: F401


def build(backbone=None, in_channels=32, prior='cifar10mini'):
    backbone = backbone or dict(type='ColorizationNet', base_channels=8)
    return MODELS.build(
        dict(
            type='Colorization',
            backbone=backbone,
            head=dict(type='ColorizationHead', in_channels=in_channels, prior=prior)))


def images(n=2, size=32, gray=()):
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    for i in gray:
        imgs[i] = imgs[i, :1]
    return imgs


def test_train_step_lowers_loss_and_counts_gray():
    model = build()
    data = dict(
        inputs=list(images(3, gray=(1, ))),
        data_samples=[DataSample() for _ in range(3)])
    from mmengine.optim import OptimWrapper
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    first = model.train_step(data, optim)
    for _ in range(15):
        last = model.train_step(data, optim)
    assert first['num_gray'].item() == 1
    assert last['loss'].item() < first['loss'].item()


def test_predict_and_colorize_shapes():
    model = build().eval()
    data = dict(inputs=list(images(2)), data_samples=[DataSample() for _ in range(2)])
    samples = model.test_step(data)
    assert samples[0].pred_ab.shape == (2, 32, 32)
    assert samples[0].gt_ab.shape == (2, 32, 32)
    assert model.colorize(images(2)).shape == (2, 2, 32, 32)


def test_predictions_carry_the_training_mean_ab_of_the_prior():
    """For ColorizationMetric's 'mean' baseline. The shipped cifar10-mini prior
    file records no pixel mean, so it is the prior's mean bin centre, recomputed
    here with numpy from the file."""
    from importlib.resources import files

    import numpy as np
    shipped = files('colorssl.color.data') / 'prior_313_cifar10mini.npz'
    with np.load(str(shipped), allow_pickle=False) as npz:
        prior, bins = npz['prior'], npz['bins'].astype(np.float64)
    expected = (prior[:, None] * bins).sum(0) / prior.sum()

    def data():
        return dict(inputs=list(images(2)), data_samples=[DataSample(), DataSample()])

    samples = build().eval().test_step(data())
    for sample in samples:
        np.testing.assert_allclose(sample.train_mean_ab.numpy(), expected, atol=1e-4)
    # without rebalancing there is no prior, so no training mean
    plain = build(prior=None).eval().test_step(data())
    assert 'train_mean_ab' not in plain[0]


def test_resnet_backbone_on_l_channel():
    model = build(
        dict(type='ResNet', depth=18, in_channels=1, out_indices=(3, )),
        in_channels=512)
    data = dict(inputs=list(images(2)), data_samples=[DataSample() for _ in range(2)])
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert torch.isfinite(losses['loss'])
    assert model.eval().colorize(images(1)).shape == (1, 2, 32, 32)
