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


class FileList(ImageList):
    """ImageList read from PNG files, with mmengine's ``get_data_info``."""

    def __init__(self, images, folder):
        from PIL import Image
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = []
        for i, img in enumerate(images):
            path = folder / f'img_{i}.png'
            Image.fromarray(img).save(path)
            self.paths.append(str(path))
        self.reads = 0

    def __len__(self):
        return len(self.paths)

    def get_data_info(self, i):
        return dict(img_path=self.paths[i])

    def __getitem__(self, i):
        from PIL import Image
        self.reads += 1
        img = np.asarray(Image.open(self.paths[i]).convert('RGB'))
        return dict(
            inputs=torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))


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


def make_runner(tmp_path,
                images,
                prior='auto',
                prior_samples=100,
                resume=False,
                load_from=None,
                dataset=None):
    model = MODELS.build(
        dict(
            type='Colorization',
            backbone=dict(type='ColorizationNet', base_channels=4),
            head=dict(
                type='ColorizationHead',
                in_channels=16,
                prior=prior,
                prior_samples=prior_samples)))
    dataset = dataset if dataset is not None else ImageList(images)
    cfg = Config(
        dict(
            resume=resume,
            load_from=load_from,
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


def test_loaded_checkpoint_prior_is_kept_unless_reestimate(tmp_path):
    first = make_runner(tmp_path / 'a', colour_images(4))
    ColorPriorHook().before_train(first)
    state = first.model.state_dict()
    # load_from a checkpoint with a prior, other training images: the prior is kept
    other_images = colour_images(5, seed=9)
    loaded = make_runner(tmp_path / 'b', other_images, load_from='pre.pth')
    loaded.model.load_state_dict(state)
    ColorPriorHook().before_train(loaded)
    assert loaded.train_dataloader.dataset.reads == 0
    assert 'kept from pre.pth (4 images)' in loaded.logger.lines[-1]
    torch.testing.assert_close(loaded.model.head.prior, first.model.head.prior)
    # the config asks to estimate again: the new images give the prior
    again = make_runner(tmp_path / 'b', other_images, load_from='pre.pth')
    again.model.load_state_dict(state)
    ColorPriorHook(reestimate=True).before_train(again)
    assert again.train_dataloader.dataset.reads == 5
    assert int(again.model.head.prior_num_images) == 5
    # a load_from checkpoint without a prior (a fresh head) is estimated as usual
    fresh = make_runner(tmp_path / 'c', colour_images(3), load_from='other.pth')
    ColorPriorHook().before_train(fresh)
    assert fresh.train_dataloader.dataset.reads == 3


def test_cache_is_keyed_by_the_image_files(tmp_path):
    from PIL import Image
    images = colour_images(6, seed=2)
    files = FileList(images, tmp_path / 'imgs')
    runner = make_runner(tmp_path / 'work', None, dataset=files)
    ColorPriorHook().before_train(runner)
    assert files.reads == 6
    meta = load_prior(tmp_path / 'work' / 'color_prior.npz')['meta']
    assert meta['cache_key']['data']['num_images'] == 6
    first = runner.model.head.prior.clone()

    # same files: the cache is read
    files.reads = 0
    same = make_runner(tmp_path / 'work', None, dataset=files)
    ColorPriorHook().before_train(same)
    assert files.reads == 0 and 'not recomputed' in same.logger.lines[-1]

    # one file replaced under the same name and config: estimated again
    Image.fromarray(np.full((9, 9, 3), (200, 30, 30), np.uint8)).save(files.paths[0])
    changed = make_runner(tmp_path / 'work', None, dataset=files)
    ColorPriorHook().before_train(changed)
    assert files.reads == 6
    assert any('made for other data' in line for line in changed.logger.lines)
    assert not torch.allclose(changed.model.head.prior, first)
