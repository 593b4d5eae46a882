"""ColorPriorHook in process, with a stand-in runner: the estimate against an
independent numpy/skimage count, the cache, the resumed checkpoint and the errors."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from skimage.color import rgb2lab
from torch.utils.data import DataLoader, Dataset

import colorssl  # noqa: F401
from colorssl.color import load_ab_bins, load_prior, smooth_prior
from colorssl.engine.hooks import ColorPriorHook

BINS = load_ab_bins('original313').double()


class ImageList(Dataset):
    """Packed samples (``dict(inputs=(3, H, W) uint8)``); counts reads."""

    def __init__(self, images):
        self.images = [
            torch.from_numpy(np.ascontiguousarray(i.transpose(2, 0, 1))) for i in images
        ]
        self.reads = 0

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        self.reads += 1
        return dict(inputs=self.images[i])


class Log:

    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)

    warning = info


def colour_images(n, seed=0, size=8):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def gray_images(n, seed=1, size=8):
    rng = np.random.default_rng(seed)
    return [
        np.repeat(rng.integers(0, 256, (size, size, 1), dtype=np.uint8), 3, 2)
        for _ in range(n)
    ]


def make_runner(tmp_path, images, prior='auto', prior_samples=100, resume=False):
    model = MODELS.build(
        dict(
            type='Colorization',
            backbone=dict(type='ColorizationNet', base_channels=4),
            head=dict(
                type='ColorizationHead',
                in_channels=16,
                prior=prior,
                prior_samples=prior_samples)))
    dataset = ImageList(images)
    cfg = Config(
        dict(
            resume=resume,
            train_dataloader=dict(
                dataset=dict(
                    type='ImageList',
                    data_root='/data/example',
                    ann_file='meta/train.txt'))))
    return SimpleNamespace(
        model=model,
        train_dataloader=DataLoader(dataset, batch_size=3),
        cfg=cfg,
        logger=Log(),
        work_dir=str(tmp_path))


def reference_counts(images):
    """Nearest-bin counts of the colour images by skimage Lab and brute force."""
    counts = np.zeros(len(BINS), dtype=np.int64)
    for img in images:
        ab = rgb2lab(img / 255.)[..., 1:].reshape(-1, 2)
        if np.abs(ab).max() <= 5:
            continue
        d2 = ((ab[:, None] - BINS.numpy()[None])**2).sum(-1)
        counts += np.bincount(d2.argmin(1), minlength=len(BINS))
    return counts


def test_estimate_matches_an_independent_count_and_is_cached(tmp_path):
    images = colour_images(7) + gray_images(2)
    runner = make_runner(tmp_path, images)
    head = runner.model.head
    before = torch.random.get_rng_state()
    ColorPriorHook().before_train(runner)
    assert torch.equal(torch.random.get_rng_state(), before)  # stream untouched
    assert head.has_prior and int(head.prior_num_images) == 7
    line = runner.logger.lines[-1]
    assert 'estimated from 7 images' in line and '2 grayscale skipped' in line
    assert "data_root='/data/example'" in line

    cache = load_prior(tmp_path / 'color_prior.npz')
    expected = reference_counts(images)
    counts = cache['counts'].numpy()
    assert counts.sum() == expected.sum() == 7 * 64
    assert np.abs(counts - expected).sum() <= 4  # Lab rounding at bin borders
    ref_prior = smooth_prior(torch.from_numpy(counts / counts.sum()), BINS, 5.0)
    np.testing.assert_allclose(
        head.prior.numpy(), ref_prior.numpy(), rtol=1e-5, atol=1e-9)
    ab = np.concatenate([rgb2lab(i / 255.)[..., 1:].reshape(-1, 2) for i in images[:7]])
    np.testing.assert_allclose(cache['meta']['mean_ab'], ab.mean(0), atol=0.05)
    np.testing.assert_allclose(head.prior_mean_ab.numpy(), ab.mean(0), atol=0.05)

    # a rerun (or a resumed run) in the same work dir reads the cache
    again = make_runner(tmp_path, images)
    ColorPriorHook().before_train(again)
    assert again.train_dataloader.dataset.reads == 0
    assert 'not recomputed' in again.logger.lines[-1]
    torch.testing.assert_close(again.model.head.prior, head.prior)
    # another sample size or seed does not reuse it
    other = make_runner(tmp_path, images, prior_samples=3)
    ColorPriorHook().before_train(other)
    assert other.train_dataloader.dataset.reads == 3
    assert 'estimated from' in other.logger.lines[-1]


def test_sample_is_seeded_and_bounded(tmp_path):
    images = colour_images(20, seed=5)
    runs = []
    for seed in (0, 0, 1):
        runner = make_runner(tmp_path / str(len(runs)), images, prior_samples=5)
        ColorPriorHook(seed=seed).before_train(runner)
        assert runner.train_dataloader.dataset.reads == 5
        runs.append(runner.model.head.prior.clone())
    torch.testing.assert_close(runs[0], runs[1])
    assert not torch.allclose(runs[0], runs[2])


def test_resumed_checkpoint_prior_is_kept(tmp_path):
    images = colour_images(4)
    first = make_runner(tmp_path / 'a', images)
    ColorPriorHook().before_train(first)
    state = first.model.state_dict()
    # a resumed run elsewhere: no cache, the prior comes with the checkpoint
    resumed = make_runner(tmp_path / 'b', images, resume=True)
    resumed.model.load_state_dict(state)
    ColorPriorHook().before_train(resumed)
    assert resumed.train_dataloader.dataset.reads == 0
    assert 'resumed checkpoint' in resumed.logger.lines[-1]
    torch.testing.assert_close(resumed.model.head.class_weights,
                               first.model.head.class_weights)


def test_all_gray_and_empty_training_sets_fail_naming_the_dataset(tmp_path):
    runner = make_runner(tmp_path, gray_images(3))
    with pytest.raises(ValueError) as err:
        ColorPriorHook().before_train(runner)
    msg = str(err.value)
    assert 'all 3 images' in msg and 'grayscale' in msg
    assert "data_root='/data/example'" in msg and 'meta/train.txt' in msg
    assert "model.head.prior" in msg
    empty = make_runner(tmp_path, [])
    with pytest.raises(ValueError, match=r'ImageList\(.*\) has 0 images'):
        ColorPriorHook().before_train(empty)


def test_other_priors_are_left_alone(tmp_path):
    for prior in (None, 'cifar10mini'):
        runner = make_runner(tmp_path, colour_images(2), prior=prior)
        weights = runner.model.head.class_weights.clone()
        ColorPriorHook().before_train(runner)
        assert runner.train_dataloader.dataset.reads == 0
        torch.testing.assert_close(runner.model.head.class_weights, weights)
    assert not (tmp_path / 'color_prior.npz').exists()


def test_cache_records_how_it_was_made(tmp_path):
    runner = make_runner(tmp_path, colour_images(3))
    ColorPriorHook(seed=3).before_train(runner)
    meta = load_prior(tmp_path / 'color_prior.npz')['meta']
    assert meta['num_images_used'] == 3 and meta['seed'] == 3
    assert meta['cache_key']['prior_samples'] == 100
    json.dumps(meta)
