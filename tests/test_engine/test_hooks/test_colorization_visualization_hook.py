import numpy as np
import torch

from colorssl.color import lab_to_rgb
from colorssl.engine.hooks import triptychs


def test_triptych_layout():
    g = torch.Generator().manual_seed(0)
    light = torch.rand(2, 1, 6, 5, generator=g) * 100
    pred = torch.randn(2, 2, 6, 5, generator=g) * 20
    gt = torch.randn(2, 2, 6, 5, generator=g) * 20
    pic = triptychs(light, pred, gt)
    assert pic.shape == (12, 15, 3) and pic.dtype == np.uint8
    # second row, middle panel is image 1's prediction
    want = lab_to_rgb(torch.cat([light[1:], pred[1:]], 1))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(pic[6:, 5:10] / 255., want, atol=1 / 255 + 1e-6)
    # gray panel has R = G = B (up to rounding)
    assert np.abs(pic[:, :5, 0].astype(int) - pic[:, :5, 2].astype(int)).max() <= 1
