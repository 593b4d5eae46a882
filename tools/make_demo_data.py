"""Write the small embedded demo dataset from photos that ship with scikit-image.

    python tools/make_demo_data.py [--out data/demo] [--size 96]

Random crops of real colour photos bundled in the ``skimage/data`` folder (no
download) are saved as an ImageNet-style folder: ``train/<photo>/*.png`` and
``val/<photo>/*.png``.
The val photos are different photos from the train ones; they are also copied whole, at
their full resolution, to ``heldout/<photo>.png`` (what tools/run_demo.sh colorizes).
"""
import argparse
import os
import os.path as osp

import numpy as np
from PIL import Image

# Everyday scenes only: the microscopy and retina photos that also ship with
# scikit-image are almost entirely orange and would dominate the colour statistics.
TRAIN_PHOTOS = ('astronaut.png', 'coffee.png', 'rocket.jpg', 'motorcycle_left.png',
                'hubble_deep_field.jpg')
VAL_PHOTOS = ('chelsea.png', 'motorcycle_right.png')


def skimage_data_dir() -> str:
    import skimage.data
    return osp.dirname(skimage.data.__file__)


def random_crops(img: Image.Image, num: int, size: int, rng: np.random.Generator):
    """``num`` square crops covering 20-60% of the shorter side, resized to ``size``."""
    w, h = img.size
    for _ in range(num):
        side = int(min(w, h) * rng.uniform(0.2, 0.6))
        x, y = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
        yield img.crop((x, y, x + side, y + side)).resize((size, size), Image.BICUBIC)


def make_split(out: str, photos, num: int, size: int, rng) -> int:
    count = 0
    for photo in photos:
        path = osp.join(skimage_data_dir(), photo)
        if not osp.isfile(path):
            raise FileNotFoundError(f'scikit-image photo missing: {path}')
        img = Image.open(path).convert('RGB')
        folder = osp.join(out, osp.splitext(photo)[0])
        os.makedirs(folder, exist_ok=True)
        for i, crop in enumerate(random_crops(img, num, size, rng)):
            crop.save(osp.join(folder, f'{i:04d}.png'))
            count += 1
    return count


def copy_heldout(out: str, photos) -> None:
    """The held-out photos, whole and at full resolution, as ``<out>/<photo>.png``."""
    os.makedirs(out, exist_ok=True)
    for photo in photos:
        img = Image.open(osp.join(skimage_data_dir(), photo)).convert('RGB')
        img.save(osp.join(out, osp.splitext(photo)[0] + '.png'))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/demo', help='output folder')
    parser.add_argument('--size', type=int, default=96, help='crop size in pixels')
    parser.add_argument(
        '--train-crops', type=int, default=80, help='crops per training photo')
    parser.add_argument('--val-crops', type=int, default=16, help='crops per val photo')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n_train = make_split(
        osp.join(args.out, 'train'), TRAIN_PHOTOS, args.train_crops, args.size, rng)
    n_val = make_split(
        osp.join(args.out, 'val'), VAL_PHOTOS, args.val_crops, args.size, rng)
    copy_heldout(osp.join(args.out, 'heldout'), VAL_PHOTOS)
    print(f'wrote {n_train} train and {n_val} val crops and {len(VAL_PHOTOS)} held-out '
          f'photos to {args.out}')


if __name__ == '__main__':
    main()
