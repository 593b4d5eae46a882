"""Estimate the colour prior of ``model.head.prior='auto'`` from the training data."""
import contextlib
import hashlib
import json
import os
import os.path as osp
import random
import time
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_reduce, broadcast, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch.utils.data import DataLoader, Subset

from colorssl.color import load_prior, save_prior
from colorssl.models.data_preprocessors import GRAY_THRESHOLD, ABHistogram, ab_histogram
from colorssl.models.heads.colorization_head import AUTO_PRIOR_SIGMA, ColorizationHead


def describe_dataset(cfg) -> str:
    """A short description of a dataset config for messages: its type and where its
    data is (``data_root``, ``ann_file``, ``data_prefix``, ``split``); wrappers
    (``ConcatDataset``, ``RepeatDataset`` ...) list what they wrap."""
    if cfg is None:
        return 'train_dataloader.dataset'
    if not isinstance(cfg, dict):
        return type(cfg).__name__
    name = str(cfg.get('type', '?'))
    if cfg.get('datasets'):
        return f"{name}[{', '.join(describe_dataset(d) for d in cfg['datasets'])}]"
    if cfg.get('dataset') is not None:
        return f'{name}[{describe_dataset(cfg["dataset"])}]'
    parts = [
        f'{key}={cfg[key]!r}'
        for key in ('data_root', 'ann_file', 'data_prefix', 'split') if cfg.get(key)
    ]
    return f"{name}({', '.join(parts)})"


class HistogramCollate:
    """``collate_fn`` that turns a batch of packed samples into an
    :class:`ABHistogram` in the DataLoader worker (decoding, Lab conversion and
    counting all happen in the workers)."""

    def __init__(self, bins: torch.Tensor, gray_thresh: float, channel_order: str):
        self.bins = bins.detach().cpu().float()
        self.gray_thresh = gray_thresh
        self.channel_order = channel_order

    def __call__(self, batch: Sequence[dict]) -> ABHistogram:
        try:
            images = [item['inputs'] for item in batch]
        except (TypeError, KeyError) as err:
            raise TypeError('ColorPriorHook needs training samples packed as '
                            "dict(inputs=Tensor(3, H, W), ...) (PackInputs), got "
                            f'{type(batch[0]).__name__}') from err
        return ab_histogram(images, self.bins, self.gray_thresh, self.channel_order)


def sample_indices(total: int, num: int, seed: int) -> np.ndarray:
    """``min(num, total)`` distinct indices of ``range(total)``, sorted, seeded."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, min(num, total), replace=False))


def data_fingerprint(dataset, indices) -> dict:
    """What identifies the images a prior is estimated from.

    For each sampled index, ``dataset.get_data_info(i)`` gives the file (``img_path``:
    its path, size and modification time go into a SHA-1 digest) or the decoded image
    (``img``: its bytes). Datasets without ``get_data_info`` are identified by their
    length only (``files=None``).

    Returns:
        dict: ``num_images`` (int, the dataset's length) and ``files`` (hex digest or
        None).
    """
    get_info = getattr(dataset, 'get_data_info', None)
    if get_info is None:
        return dict(num_images=len(dataset), files=None)
    digest = hashlib.sha1()
    for i in indices:
        info = get_info(int(i))
        path = info.get('img_path') if isinstance(info, dict) else None
        if path is not None:
            try:
                stat = os.stat(path)
                digest.update(f'{path}|{stat.st_size}|{stat.st_mtime_ns}\n'.encode())
            except OSError:  # remote or missing: the path alone
                digest.update(f'{path}\n'.encode())
        elif isinstance(info, dict) and isinstance(info.get('img'), np.ndarray):
            digest.update(np.ascontiguousarray(info['img']).tobytes())
        else:
            digest.update(repr(info).encode())
    return dict(num_images=len(dataset), files=digest.hexdigest())


@contextlib.contextmanager
def _keep_random_state():
    """Leave the global random generators as they were (the estimate must not change
    the training's random stream)."""
    py, np_state, torch_state = random.getstate(), np.random.get_state(), \
        torch.random.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)


@HOOKS.register_module()
class ColorPriorHook(Hook):
    """Give ``model.head.prior='auto'`` its colour prior before training starts.

    In ``before_train`` (after the checkpoint is loaded or resumed), when the
    :class:`ColorizationHead` has ``prior='auto'``, the prior is taken from, in order:

    1. the checkpoint, when the run loads one (``load_from``) or resumes one
       (``--resume``) whose head carries an estimated prior; ``reestimate=True``
       skips this and the cache;
    2. the cache ``<work_dir>/<cache_file>`` if it was made from the same images
       (the sampled files' paths, sizes and modification times, see
       :func:`data_fingerprint`), training pipeline, sample size, seed, smoothing
       and bins (a rerun in the same work dir);
    3. an estimate: ``model.head.prior_samples`` training images drawn at random
       (seed ``seed``; all when there are fewer), split over the ranks, loaded by a
       DataLoader with the training loader's ``num_workers`` and batch size. The
       images come through the *training pipeline* (random crops and flips leave
       the colour statistics unbiased); the workers convert them to Lab as the data
       preprocessor does and count each pixel at its nearest bin
       (:func:`colorssl.models.data_preprocessors.ab_histogram`), skipping
       grayscale images. The counts are summed over ranks (all_reduce), normalised
       and smoothed with a Gaussian of ``model.head.prior_sigma`` (default 5 ab
       units) and set with :meth:`ColorizationHead.set_prior`; the main process
       writes the cache (a prior .npz, ``tools/compute_color_prior.py``'s format,
       with the counts and the exact mean ab), atomically.

    The run logs the images used, the grayscale ones skipped and the seconds taken;
    the checkpoint carries the prior in the head's buffers. The global random
    generators are left as they were. Does nothing for other heads or priors.

    Args:
        seed (int): Seed of the image sample. Defaults to 0.
        cache_file (str): File name in the work dir. Defaults to
            ``'color_prior.npz'``.
        batch_size (int, optional): Images per worker batch. Defaults to the
            training loader's.
        reestimate (bool): Estimate the prior even when the loaded checkpoint or
            the cache has one. Defaults to False.

    Raises:
        ValueError: the training set has no image, or every sampled image is
            grayscale (the message names the dataset and the counts).
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 seed: int = 0,
                 cache_file: str = 'color_prior.npz',
                 batch_size: Optional[int] = None,
                 reestimate: bool = False):
        self.seed = int(seed)
        self.reestimate = bool(reestimate)
        self.cache_file = cache_file
        self.batch_size = batch_size

    # ------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'head', None)
        if not isinstance(head, ColorizationHead) or not head.auto_prior:
            return
        loaded = runner.cfg.get('load_from') or (
            'the resumed checkpoint' if runner.cfg.get('resume') else None)
        if loaded and int(head.prior_num_images) != 0 and not self.reestimate:
            runner.logger.info(
                f'color prior: kept from {loaded} ({int(head.prior_num_images)} '
                'images); ColorPriorHook(reestimate=True) estimates it again')
            return
        preprocessor = getattr(model, 'data_preprocessor', None)
        gray_thresh = float(getattr(preprocessor, 'gray_thresh', GRAY_THRESHOLD))
        channel_order = getattr(preprocessor, 'channel_order', 'rgb')
        dataset_cfg = runner.cfg.get('train_dataloader', {}).get('dataset')
        dataset_name = describe_dataset(dataset_cfg)
        sigma = head.prior_sigma if head.prior_sigma is not None else AUTO_PRIOR_SIGMA
        dataset = runner.train_dataloader.dataset
        indices = sample_indices(len(dataset), head.prior_samples, self.seed)
        cache = osp.join(runner.work_dir, self.cache_file)
        key = None
        if is_main_process():
            key = dict(
                data=data_fingerprint(dataset, indices),
                pipeline=repr((dataset_cfg or {}).get('pipeline')),
                prior_samples=head.prior_samples,
                seed=self.seed,
                sigma=sigma,
                gray_thresh=gray_thresh,
                channel_order=channel_order)
        if not self.reestimate and self._from_cache(runner, head, cache, key):
            return
        self._estimate(runner, head, cache, key, dataset_name, gray_thresh,
                       channel_order, sigma, indices)

    # ------------------------------------------------------------------------
    def _from_cache(self, runner, head, cache: str, key: dict) -> bool:
        """Load the cache on rank 0 when it fits, share it with all ranks."""
        num_bins = head.num_bins
        packed = torch.zeros(num_bins + 4, dtype=torch.float64)
        if is_main_process() and osp.isfile(cache):
            try:
                stored = load_prior(cache)
            except ValueError as err:
                runner.logger.warning(f'color prior: ignoring the unreadable cache '
                                      f'{cache} ({err})')
                stored = None
            if stored is not None:
                meta = stored['meta']
                fits = (
                    json.dumps(meta.get('cache_key'), sort_keys=True) == json.dumps(
                        key, sort_keys=True) and stored['prior'].numel() == num_bins
                    and torch.allclose(stored['bins'].float(),
                                       head.bins.cpu().float()))
                if fits:
                    packed[0] = 1
                    packed[1:3] = torch.tensor(meta['mean_ab'], dtype=torch.float64)
                    packed[3] = meta['num_images_used']
                    packed[4:] = stored['prior']
                else:
                    made_for = meta.get('cache_key') or {}
                    changed = sorted(k for k in set(key) | set(made_for)
                                     if made_for.get(k) != key.get(k)) or ['bins']
                    runner.logger.info(f'color prior: the cache {cache} was made for '
                                       f'other {", ".join(changed)}: estimating again')
        broadcast(packed, src=0)
        if packed[0] != 1:
            return False
        head.set_prior(packed[4:], num_images=int(packed[3]), mean_ab=packed[1:3])
        runner.logger.info(f'color prior: loaded from {cache} ({int(packed[3])} '
                           'images; not recomputed)')
        return True

    def _estimate(self, runner, head, cache, key, dataset_name, gray_thresh,
                  channel_order, sigma, indices) -> None:
        start = time.perf_counter()
        dataset = runner.train_dataloader.dataset
        total = len(dataset)
        if total == 0:
            raise ValueError(f"model.head.prior='auto': the training set "
                             f'{dataset_name} has 0 images, no colour prior can be '
                             'estimated')
        num = len(indices)
        rank, world_size = get_dist_info()
        mine = indices[rank::world_size].tolist()
        train_loader = runner.train_dataloader
        batch_size = self.batch_size or getattr(train_loader, 'batch_size', None) or 32
        num_workers = getattr(train_loader, 'num_workers', 0)
        hist = ABHistogram.empty(head.num_bins)
        with _keep_random_state():
            loader = DataLoader(
                Subset(dataset, mine),
                batch_size=batch_size,
                shuffle=False,
                num_workers=num_workers,
                collate_fn=HistogramCollate(head.bins, gray_thresh, channel_order),
                generator=torch.Generator().manual_seed(self.seed + rank))
            for part in loader:
                hist = hist.merge(part)
        packed = torch.cat([
            hist.counts.double(),
            hist.ab_sum.double(),
            torch.tensor([hist.num_color, hist.num_gray], dtype=torch.float64)
        ])
        all_reduce(packed, op='sum')
        num_bins = head.num_bins
        hist = ABHistogram(packed[:num_bins].round().long(),
                           packed[num_bins:num_bins + 2], int(packed[-2]),
                           int(packed[-1]))
        if hist.num_color == 0:
            raise ValueError(
                f"model.head.prior='auto': all {hist.num_gray} images sampled from "
                f'the training set {dataset_name} ({total} images) are grayscale '
                f'(no |a| or |b| above {gray_thresh}); no colour prior can be '
                'estimated: check the data, or set model.head.prior to a prior file '
                'or None')
        prior = hist.to_prior(head.bins.cpu().double(), sigma=sigma)
        head.set_prior(
            prior, num_images=hist.num_color, mean_ab=torch.tensor(hist.mean_ab))
        seconds = time.perf_counter() - start
        meta = dict(
            source='ColorPriorHook',
            cache_key=key,
            dataset=dataset_name,
            num_images_total=total,
            num_images_sampled=num,
            num_images_used=hist.num_color,
            skipped_grayscale=hist.num_gray,
            num_pixels=hist.num_pixels,
            mean_ab=list(hist.mean_ab),
            seed=self.seed,
            sigma=sigma,
            smoothed=bool(sigma),
            grayscale_threshold=gray_thresh,
            world_size=world_size,
            seconds=round(seconds, 3))
        if is_main_process():  # written atomically
            save_prior(cache, prior, head.bins.cpu(), meta, counts=hist.counts)
        p = prior[prior > 0]
        entropy = float(-(p * p.log()).sum())
        runner.logger.info(
            f'color prior: estimated from {hist.num_color} images of {dataset_name} '
            f'({num} sampled of {total}, {hist.num_gray} grayscale skipped, '
            f'{world_size} rank(s)) in {seconds:.1f} s: '
            f'{int((hist.counts > 0).sum())}/{num_bins} bins seen, entropy '
            f'{entropy:.3f} nats, mean ab ({hist.mean_ab[0]:.2f}, '
            f'{hist.mean_ab[1]:.2f}), smoothed sigma {sigma}; cached in {cache}')
