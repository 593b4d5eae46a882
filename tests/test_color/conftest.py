"""Real photos from ../shared/data for the colour tests (the ``shared_data`` fixture
of tests/conftest.py: skipped when the folder is absent, failed when CI=true)."""
from pathlib import Path

import numpy as np
import pytest
import torch


def _read(path: Path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))


@pytest.fixture(scope='session')
def photos(shared_data) -> dict:
    """uint8 RGB batches of real photos, (N, 3, H, W).

    Returns:
        dict: ``cifar``: 24 cifar10-mini training photos (32 x 32), 3 per
        class of the first 8 classes; ``camvid``: 2 camvid-mini street scenes,
        their central 177 x 171 crop.
    """
    cifar = shared_data('cifar10-mini') / 'train'
    camvid = shared_data('camvid-mini') / 'img_dir' / 'train'
    small = [
        _read(p) for cls in sorted(cifar.iterdir())[:8]
        for p in sorted(cls.glob('*.jpg'))[:3]
    ]
    large = []
    for p in sorted(camvid.glob('*.jpg'))[:2]:
        img = _read(p)
        top, left = (img.shape[0] - 177) // 2, (img.shape[1] - 171) // 2
        large.append(img[top:top + 177, left:left + 171])

    def batch(images):
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()

    return dict(cifar=batch(small), camvid=batch(large))
