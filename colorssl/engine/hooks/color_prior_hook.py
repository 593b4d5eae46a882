"""Estimate the colour prior of ``model.head.prior='auto'`` from the training data."""
import functools
import hashlib
import json
import os
import os.path as osp
import random
import time
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import (all_gather_object, broadcast_object_list, get_dist_info,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch.utils.data import DataLoader, Subset

from colorssl.color import load_prior, save_prior
from colorssl.models.data_preprocessors import GRAY_THRESHOLD, ABHistogram, ab_histogram
from colorssl.models.heads.colorization_head import AUTO_PRIOR_SIGMA, ColorizationHead


def describe_dataset(cfg) -> str:
    """Type and location (``data_root``, ``ann_file``, ``data_prefix``, ``split``) of
    a dataset config, wrappers listing what they wrap."""
    if not isinstance(cfg, dict):
        return 'train_dataloader.dataset' if cfg is None else type(cfg).__name__
    name = str(cfg.get('type', '?'))
    if cfg.get('datasets'):
        return f"{name}[{', '.join(map(describe_dataset, cfg['datasets']))}]"
    if cfg.get('dataset') is not None:
        return f'{name}[{describe_dataset(cfg["dataset"])}]'
    keys = ('data_root', 'ann_file', 'data_prefix', 'split')
    return f"{name}({', '.join(f'{k}={cfg[k]!r}' for k in keys if cfg.get(k))})"


def _histogram_collate(batch: Sequence[dict], **kwargs) -> ABHistogram:
    """DataLoader ``collate_fn``: packed samples -> :class:`ABHistogram`."""
    try:
        images = [item['inputs'] for item in batch]
    except (TypeError, KeyError) as err:
        raise TypeError('ColorPriorHook needs training samples packed as '
                        'dict(inputs=Tensor(3, H, W), ...) (PackInputs), got '
                        f'{type(batch[0]).__name__}') from err
    return ab_histogram(images, **kwargs)


def data_fingerprint(dataset, indices) -> dict:
    """``num_images`` and a SHA-1 ``files`` digest of the sampled images' paths,
    sizes and mtimes (``get_data_info(i)['img_path']``; otherwise ``img``'s bytes
    or the info's repr); ``files=None`` without ``get_data_info``."""
    get_info = getattr(dataset, 'get_data_info', None)
    if get_info is None:
        return dict(num_images=len(dataset), files=None)
    digest = hashlib.sha1()
    for i in indices:
        info = get_info(int(i))
        path = info.get('img_path') if isinstance(info, dict) else None
        if path is not None and osp.isfile(path):
            stat = os.stat(path)
            digest.update(f'{path}|{stat.st_size}|{stat.st_mtime_ns}\n'.encode())
        elif isinstance(info, dict) and isinstance(info.get('img'), np.ndarray):
            digest.update(np.ascontiguousarray(info['img']).tobytes())
        else:
            digest.update(repr(info).encode())
    return dict(num_images=len(dataset), files=digest.hexdigest())


@HOOKS.register_module()
class ColorPriorHook(Hook):
    """Give a ``ColorizationHead`` with ``prior='auto'`` its colour prior in
    ``before_train``: kept from a ``load_from`` / resumed checkpoint that carries one,
    else read from the work-dir cache made from the same data, else estimated from
    ``head.prior_samples`` training images (see docs/colorization.md).

    Args:
        seed (int): Seed of the image sample. Defaults to 0.
        cache_file (str): Cache file in the work dir. Defaults to 'color_prior.npz'.
        batch_size (int, optional): Loader batch size. Defaults to the training's.
        reestimate (bool): Estimate even when the checkpoint or the cache has a
            prior. Defaults to False.
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

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'head', None)
        if not isinstance(head, ColorizationHead) or not head.auto_prior:
            return
        loaded = runner.cfg.get('load_from') or ('the resumed checkpoint'
                                                 if runner.cfg.get('resume') else None)
        if loaded and int(head.prior_num_images) != 0 and not self.reestimate:
            runner.logger.info(
                f'color prior: kept from {loaded} ({int(head.prior_num_images)} '
                'images); ColorPriorHook(reestimate=True) estimates it again')
            return
        preprocessor = getattr(model, 'data_preprocessor', None)
        args = dict(
            gray_thresh=float(getattr(preprocessor, 'gray_thresh', GRAY_THRESHOLD)),
            channel_order=getattr(preprocessor, 'channel_order', 'rgb'))
        sigma = head.prior_sigma if head.prior_sigma is not None else AUTO_PRIOR_SIGMA
        dataset_cfg = runner.cfg.get('train_dataloader', {}).get('dataset')
        name = describe_dataset(dataset_cfg)
        dataset = runner.train_dataloader.dataset
        total = len(dataset)
        indices = np.sort(
            np.random.default_rng(self.seed).choice(
                total, min(head.prior_samples, total), replace=False))
        cache = osp.join(runner.work_dir, self.cache_file)
        key, found = None, [None]
        if is_main_process():
            key = dict(
                data=data_fingerprint(dataset, indices),
                pipeline=repr((dataset_cfg or {}).get('pipeline')),
                prior_samples=head.prior_samples,
                seed=self.seed,
                sigma=sigma,
                **args)
            key = json.loads(json.dumps(key))  # as read back from the cache
            if not self.reestimate:
                found[0] = self._read_cache(runner, head, cache, key)
        broadcast_object_list(found)
        if found[0] is not None:
            meta = found[0]['meta']
            head.set_prior(
                found[0]['prior'],
                num_images=meta['num_images_used'],
                mean_ab=torch.tensor(meta['mean_ab']))
            runner.logger.info(f'color prior: loaded from {cache} '
                               f"({meta['num_images_used']} images; not recomputed)")
            return
        if total == 0:
            raise ValueError(f"model.head.prior='auto': the training set {name} has 0 "
                             'images, no colour prior can be estimated')
        start = time.perf_counter()
        rank, world_size = get_dist_info()
        loader = runner.train_dataloader
        hist = ABHistogram.empty(head.num_bins)
        states = random.getstate(), np.random.get_state()  # left as they were
        with torch.random.fork_rng(devices=[]):
            for part in DataLoader(
                    Subset(dataset, indices[rank::world_size].tolist()),
                    batch_size=self.batch_size or getattr(loader, 'batch_size', None)
                    or 32,
                    num_workers=getattr(loader, 'num_workers', 0),
                    collate_fn=functools.partial(
                        _histogram_collate, bins=head.bins.cpu().float(), **args),
                    generator=torch.Generator().manual_seed(self.seed + rank)):
                hist = hist.merge(part)
        random.setstate(states[0])
        np.random.set_state(states[1])
        hist = functools.reduce(ABHistogram.merge, all_gather_object(hist))
        if hist.num_color == 0:
            raise ValueError(
                f"model.head.prior='auto': all {hist.num_gray} images sampled from "
                f'the training set {name} ({total} images) are grayscale (no |a| or '
                f"|b| above {args['gray_thresh']}); no colour prior can be estimated: "
                'check the data, or set model.head.prior to a prior file or None')
        prior = hist.to_prior(head.bins.cpu().double(), sigma=sigma)
        head.set_prior(
            prior, num_images=hist.num_color, mean_ab=torch.tensor(hist.mean_ab))
        if is_main_process():
            meta = dict(
                cache_key=key,
                dataset=name,
                num_images_used=hist.num_color,
                skipped_grayscale=hist.num_gray,
                mean_ab=list(hist.mean_ab),
                seed=self.seed,
                sigma=sigma,
                smoothed=bool(sigma))
            save_prior(cache, prior, head.bins.cpu(), meta, counts=hist.counts)
        runner.logger.info(
            f'color prior: estimated from {hist.num_color} images of {name} '
            f'({len(indices)} sampled of {total}, {hist.num_gray} grayscale skipped, '
            f'{world_size} rank(s)) in {time.perf_counter() - start:.1f} s: '
            f'{int((hist.counts > 0).sum())}/{head.num_bins} bins seen, mean ab '
            f'({hist.mean_ab[0]:.2f}, {hist.mean_ab[1]:.2f}); cached in {cache}')

    @staticmethod
    def _read_cache(runner, head, cache: str, key: dict) -> Optional[dict]:
        """The cache's :func:`load_prior` dict when its key and bins fit, or None."""
        if not osp.isfile(cache):
            return None
        try:
            stored = load_prior(cache)
        except ValueError as err:
            runner.logger.warning(
                f'color prior: ignoring the unreadable cache {cache} ({err})')
            return None
        made_for = stored['meta'].get('cache_key') or {}
        changed = sorted(
            k for k in set(key) | set(made_for) if made_for.get(k) != key.get(k))
        bins = head.bins.cpu().float()
        if stored['bins'].shape != bins.shape or not torch.allclose(
                stored['bins'].float(), bins):
            changed.append('bins')
        if changed:
            runner.logger.info(f'color prior: the cache {cache} was made for other '
                               f'{", ".join(changed)}: estimating again')
            return None
        return stored
