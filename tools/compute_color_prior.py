"""Compute the ab colour prior used for class rebalancing.

    python tools/compute_color_prior.py DATA_DIR [--bins original313]
        [--sigma 5] [--max-images N] [--seed 0] [--out PRIOR.npz]

Every image under DATA_DIR (searched recursively for the extensions of
``colorssl.datasets.transforms.loading.IMAGE_EXTENSIONS``, hidden files skipped) is
read as 8-bit RGB by ``read_rgb``, the reader of training (any PIL mode, decoded by
content, EXIF orientation applied, alpha composited onto white), then converted to
CIE Lab as the data preprocessor does; each pixel's ab is counted at its nearest
bin. Grayscale images (|a| <= 5 and |b| <= 5 at every pixel: ``GRAY_THRESHOLD`` of
the data preprocessor, the rule of the original training code) and unreadable files
are skipped and counted; the names of unreadable files are printed. The counting is
:func:`colorssl.models.data_preprocessors.ab_histogram`, the code that
``model.head.prior='auto'`` runs at the start of training. The per-bin counts
are normalised, smoothed with a Gaussian of ``--sigma`` in ab space (0: no
smoothing) and written with :func:`colorssl.color.save_prior`, together with
the raw counts and a ``meta`` record: the data folder, image counts, skipped
counts, the exact mean ab of the counted pixels and the command. The
colorization head reads this file (``model.head.prior``); ``prior='auto'``
makes the same estimate without this step.
"""
import argparse
import os.path as osp
import shlex
import sys
from typing import List, Optional, Sequence

import numpy as np
import torch

from colorssl.color import load_ab_bins, save_prior
from colorssl.datasets.transforms.loading import (IMAGE_EXTENSIONS, BadImageError,
                                                  find_images, read_rgb)
from colorssl.models.data_preprocessors import GRAY_THRESHOLD, ABHistogram, ab_histogram


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compute the ab colour prior of an image folder.')
    parser.add_argument('data_dir', help='image folder (searched recursively)')
    parser.add_argument(
        '--bins',
        default='original313',
        help="ab bins: 'original313', 'srgb_reachable' or a .csv/.npy path "
        '(default: original313)')
    parser.add_argument(
        '--sigma',
        type=float,
        default=5.0,
        help='Gaussian smoothing of the prior in ab units, 0 for none '
        '(default: 5)')
    parser.add_argument(
        '--max-images',
        type=int,
        default=None,
        help='use at most this many images, a random sample (default: all)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the --max-images sample (default: 0)')
    parser.add_argument(
        '--out',
        default='color_prior.npz',
        help='output .npz file (default: color_prior.npz)')
    args = parser.parse_args(argv)
    if args.sigma < 0:
        parser.error(f'--sigma must be >= 0, got {args.sigma}')
    if args.max_images is not None and args.max_images < 1:
        parser.error(f'--max-images must be >= 1, got {args.max_images}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if not osp.isdir(args.data_dir):
        raise SystemExit(f'data_dir {args.data_dir!r} is not a folder')
    bins = load_ab_bins(args.bins)
    files = find_images(args.data_dir)
    num_found = len(files)
    if num_found == 0:
        raise SystemExit(f'no {" ".join(IMAGE_EXTENSIONS)} images found under '
                         f'{args.data_dir!r}')
    if args.max_images is not None and args.max_images < num_found:
        rng = np.random.default_rng(args.seed)
        pick = np.sort(rng.choice(num_found, args.max_images, replace=False))
        files = [files[i] for i in pick]

    hist = ABHistogram.empty(len(bins))
    corrupt: List[str] = []
    for rel in files:
        try:
            rgb = read_rgb(osp.join(args.data_dir, rel))
        except BadImageError as err:
            corrupt.append(rel)
            print(f'skipping unreadable image: {err}', file=sys.stderr)
            continue
        rgb = torch.from_numpy(rgb).permute(2, 0, 1)  # (3, H, W) uint8
        hist = hist.merge(ab_histogram([rgb], bins, GRAY_THRESHOLD))
    num_gray, num_used, counts = hist.num_gray, hist.num_color, hist.counts
    if num_used == 0:
        raise SystemExit(f'no colour image could be used under '
                         f'{args.data_dir!r} ({num_gray} grayscale, '
                         f'{len(corrupt)} unreadable)')

    prior = hist.to_prior(bins.double(), sigma=args.sigma)
    meta = dict(
        data_dir=args.data_dir,
        bins=args.bins,
        num_bins=len(bins),
        sigma=args.sigma,
        smoothed=args.sigma > 0,
        num_images_found=num_found,
        num_images_considered=len(files),
        num_images_used=num_used,
        num_pixels=int(counts.sum()),
        max_images=args.max_images,
        seed=args.seed,
        skipped_grayscale=num_gray,
        skipped_corrupt=len(corrupt),
        corrupt_files=corrupt,
        grayscale_threshold=GRAY_THRESHOLD,
        mean_ab=list(hist.mean_ab),
        command='python ' +
        shlex.join([sys.argv[0] if argv is None else 'tools/compute_color_prior.py'] +
                   (sys.argv[1:] if argv is None else list(argv))),
    )
    save_prior(args.out, prior, bins, meta, counts=counts)
    print(f'{num_used} images used, {num_gray} grayscale and {len(corrupt)} '
          f'unreadable skipped (of {num_found} found); '
          f'{int((counts > 0).sum())}/{len(bins)} bins seen; '
          f'wrote {args.out}')
    if corrupt:
        print('unreadable files: ' + ', '.join(corrupt))
    return meta


if __name__ == '__main__':
    main()
