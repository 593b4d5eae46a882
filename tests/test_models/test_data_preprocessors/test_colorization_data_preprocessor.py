import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample
from skimage.color import rgb2lab

from colorssl.models.data_preprocessors import ColorizationDataPreprocessor


def batch(seed=0):
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, size=(3, 3, 8, 6), dtype=np.uint8)
    imgs[1] = imgs[1, :1]  # a grayscale image: R = G = B
    return imgs


def test_l_input_ab_target_and_gray_flags():
    imgs = batch()
    pre = ColorizationDataPreprocessor()
    out = pre(
        dict(
            inputs=[torch.from_numpy(i) for i in imgs],
            data_samples=[DataSample() for _ in imgs]))
    ref = np.stack([rgb2lab(i.transpose(1, 2, 0) / 255.) for i in imgs])  # N,H,W,3
    assert out['inputs'].shape == (3, 1, 8, 6)
    np.testing.assert_allclose(out['inputs'][:, 0].numpy(), ref[..., 0] - 50, atol=2e-3)
    ab = torch.stack([s.gt_ab for s in out['data_samples']]).numpy()
    np.testing.assert_allclose(ab.transpose(0, 2, 3, 1), ref[..., 1:], atol=2e-3)
    assert [s.is_gray for s in out['data_samples']] == [False, True, False]


def test_bgr_order_and_replicated_l():
    imgs = batch(1)
    rgb = ColorizationDataPreprocessor()(dict(inputs=torch.from_numpy(imgs)))
    bgr = ColorizationDataPreprocessor(
        channel_order='bgr', replicate_l=3)(
            dict(inputs=torch.from_numpy(imgs[:, ::-1].copy())))
    assert bgr['inputs'].shape == (3, 3, 8, 6)
    torch.testing.assert_close(bgr['inputs'][:, :1], rgb['inputs'])
    torch.testing.assert_close(bgr['inputs'][:, 2:], rgb['inputs'])


def test_bad_input_is_explained():
    pre = ColorizationDataPreprocessor()
    with pytest.raises(ValueError, match='one size'):
        pre(
            dict(inputs=[
                torch.zeros(3, 4, 4, dtype=torch.uint8),
                torch.zeros(3, 5, 4, dtype=torch.uint8)
            ]))
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        pre(dict(inputs=torch.zeros(2, 1, 4, 4, dtype=torch.uint8)))
    with pytest.raises(ValueError, match='channel_order'):
        ColorizationDataPreprocessor(channel_order='lab')
