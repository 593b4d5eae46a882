"""Colorize images with a trained colorization model, as an mmpretrain inferencer."""
import copy
import logging
import os.path as osp
import re
import sys
from math import ceil
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import print_log
from mmpretrain.apis import BaseInferencer
from mmpretrain.utils import track
from PIL import Image

from colorssl.color import lab_to_rgb, rgb8_to_lab
from colorssl.datasets.transforms.loading import (IMAGE_EXTENSIONS, BadImageError,
                                                  find_images, read_rgb)

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_of(model: str) -> str:
    """The config file of ``model``: a path, or the name of a colorization model in
    the metafiles of colorssl's ``model-index.yml`` (read from the checkout that
    holds this package).

    Raises:
        FileNotFoundError: neither a file nor a known name (the names are listed).
    """
    if osp.isfile(model):
        return model
    import yaml
    index, names = REPO_ROOT / 'model-index.yml', {}
    if index.is_file():
        for meta in yaml.safe_load(index.read_text())['Import']:
            for entry in yaml.safe_load((REPO_ROOT / meta).read_text())['Models']:
                names[entry['Name']] = str(REPO_ROOT / entry['Config'])
    if model in names:
        return names[model]
    known = sorted(n for n in names if n.startswith('colorization_'))
    raise FileNotFoundError(f'{model!r} is neither a config file nor a model name of '
                            f'{index}; colorization models: {", ".join(known)}')


def load_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None):
    """Build the model of ``config`` (a file, a model name: :func:`config_of`, or a
    Config) as mmengine's Runner does (a top-level
    ``data_preprocessor`` goes into the model), load ``checkpoint`` (it must hold
    every parameter of the model), move it to ``device``, set eval mode.

    Returns:
        tuple: ``(cfg, model)``, with ``model._config = cfg``.

    Raises:
        FileNotFoundError: no such config or checkpoint file.
        ValueError: the checkpoint lacks parameters of the model.
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS

    from colorssl.utils.config_checks import load_config, registry_errors_named

    if isinstance(config, Config):
        cfg, name = copy.deepcopy(config), config.filename or 'the config'
        cfg.merge_from_dict(cfg_options or {})
    else:
        name = config_of(str(config))
        cfg = load_config(name, cfg_options)
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    with registry_errors_named(name):
        model = MODELS.build(model_cfg)
    if checkpoint is not None:
        ckpt = load_checkpoint(
            model, checkpoint, map_location='cpu', strict=False, logger='silent')
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
        state = {re.sub(r'^module\.', '', k) for k in state}
        missing = [k for k, _ in model.named_parameters() if k not in state]
        if missing:
            raise ValueError(
                f'checkpoint {checkpoint} does not fit {name}: {len(missing)} '
                f'parameters missing, e.g. {missing[:3]} (a checkpoint from another '
                'config?)')
    model._config = cfg
    return cfg, model.to(device).eval()


def network_size(height: int, width: int, size: int) -> Tuple[int, int]:
    """(h, w) the network sees: shorter side ``size``, aspect kept, multiples of 8."""
    if size <= 0 or size % 8:
        raise ValueError(f'size must be a positive multiple of 8, got {size}')
    long = max(8, int(round(max(height, width) * size / min(height, width) / 8)) * 8)
    return (size, long) if height <= width else (long, size)


def _resize(img: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
    """(1, 3, H, W) uint8 -> (1, 3, h, w) uint8, bilinear, antialiased."""
    if tuple(img.shape[-2:]) == hw:
        return img
    out = F.interpolate(
        img.float(),
        hw,
        mode='bilinear',
        align_corners=False,
        antialias=hw[0] < img.shape[-2])
    return out.round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def colorize_arrays(model,
                    images: Sequence[np.ndarray],
                    size: int = 256,
                    temperature: Optional[float] = None,
                    with_gray: bool = False) -> List[dict]:
    """Colorize (H, W, 3) uint8 RGB images with ``model.colorize``.

    The network sees a (3, h, w) uint8 copy (:func:`network_size`); copies of one
    (h, w) go through one call. The predicted ab (2, h, w) is resized bilinearly to
    (H, W) and joined to the image's own L (a colour image keeps only its L).

    Returns:
        list[dict]: per image ``colorized`` (H, W, 3) uint8, ``pred_ab`` (2, h, w)
        float32, ``has_color`` (some |a| or |b| of the input above the data
        preprocessor's ``gray_thresh``) and, ``with_gray``, ``gray`` (H, W, 3)
        uint8 (the L alone).
    """
    pre = getattr(model, 'data_preprocessor', None)
    device = getattr(pre, 'device', 'cpu')
    thresh = float(getattr(pre, 'gray_thresh', 5.))
    full = [torch.tensor(np.ascontiguousarray(rgb)) for rgb in images]
    full = [img.to(device).permute(2, 0, 1)[None] for img in full]
    groups, pred_ab = {}, {}
    for i, img in enumerate(full):
        groups.setdefault(network_size(*img.shape[-2:], size), []).append(i)
    for (h, w), idx in groups.items():
        batch = torch.cat([_resize(full[i], (h, w)) for i in idx])
        if getattr(pre, 'channel_order', 'rgb') == 'bgr':
            batch = batch.flip(1)
        ab = model.colorize(batch, temperature=temperature)
        if tuple(ab.shape) != (len(idx), 2, h, w):
            raise RuntimeError(f'model.colorize returned shape {tuple(ab.shape)}, '
                               f'expected ({len(idx)}, 2, {h}, {w})')
        pred_ab.update(zip(idx, ab.float().split(1)))

    def to_uint8(light, ab):
        rgb = lab_to_rgb(torch.cat([light, ab], 1), clip=True)[0].permute(1, 2, 0)
        return (rgb * 255).round().to(torch.uint8).cpu().numpy()

    results = []
    for i, img in enumerate(full):
        lab = rgb8_to_lab(img)
        ab = F.interpolate(
            pred_ab[i], img.shape[-2:], mode='bilinear', align_corners=False)
        results.append(
            dict(
                colorized=to_uint8(lab[:, :1], ab),
                pred_ab=pred_ab[i][0].cpu().numpy(),
                has_color=bool((lab[:, 1:].abs() > thresh).any())))
        if with_gray:
            results[-1]['gray'] = to_uint8(lab[:, :1], torch.zeros_like(ab))
    return results


def list_inputs(inputs, out_dir: Optional[str] = None) -> List[tuple]:
    """Image files, folders and (H, W, 3) / (H, W) uint8 RGB arrays (or one of them)
    -> ``(source, name)`` pairs, ``name`` the output path without extension.

    Folders are searched recursively (:func:`find_images`, nothing below
    ``out_dir``); a file named explicitly is taken whatever its extension. Names keep
    the path below each input folder; arrays are ``array_<i>``; clashing names get
    ``_2``, ``_3`` ... appended.

    Raises:
        FileNotFoundError: an input does not exist, or a folder holds no image.
        ValueError: an output under ``out_dir`` would overwrite an input.
    """
    if isinstance(inputs, (str, Path, np.ndarray)):
        inputs = [inputs]
    found = []
    for i, item in enumerate(inputs):
        if isinstance(item, np.ndarray):
            found.append((item, f'array_{i}'))
        elif osp.isfile(item):
            found.append((str(item), Path(item).stem))
        elif osp.isdir(item):
            files = find_images(str(item), exclude=out_dir)
            if not files:
                raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) '
                                        f'found in folder {item}')
            found += [(osp.join(item, f), Path(f).with_suffix('').as_posix())
                      for f in files]
        else:
            raise FileNotFoundError(f'input not found: {item} (expected an image '
                                    'file or a folder of images)')
    sources = {osp.realpath(s) for s, _ in found if isinstance(s, str)}
    pairs, used = [], set()
    for source, name in found:
        out, n = name, 1
        while out.lower() in used:
            n += 1
            out = f'{name}_{n}'
        used.add(out.lower())
        for suffix in ('.png', '_side_by_side.png'):
            if out_dir and osp.realpath(osp.join(out_dir, out + suffix)) in sources:
                raise ValueError(f'refusing to overwrite input {source} with its '
                                 'result: choose another out_dir')
        pairs.append((source, out))
    return pairs


class ColorizationInferencer(BaseInferencer):
    """Colorize photos (gray or colour) with a colorization model: inputs as
    :func:`list_inputs` takes them, colorized by :func:`colorize_arrays`.

    Args:
        model (str | Config | BaseModel): A model name of ``model-index.yml``
            (:func:`config_of`), a config file or Config whose model has
            ``colorize`` (``type='Colorization'``), or such a model.
        pretrained (str, optional): Checkpoint file (:func:`load_model`).
        device (str): Defaults to ``'cpu'``.
        size (int): Shorter side the network sees, a multiple of 8. Defaults to 256.
        temperature (float, optional): Annealed-mean temperature; defaults to the
            head's.
        cfg_options (dict, optional): Overrides merged into the config.

    Example:
        >>> inferencer = ColorizationInferencer('config.py', pretrained='ckpt.pth')
        >>> result = inferencer('old_photos/', batch_size=8, out_dir='colorized/')
        >>> result['predictions'][0]['colorized']  # (H, W, 3) uint8 RGB
        >>> result['skipped']  # [(file, reason), ...]: the unreadable files
    """

    def __init__(self,
                 model,
                 pretrained: Optional[str] = None,
                 device: str = 'cpu',
                 size: int = 256,
                 temperature: Optional[float] = None,
                 cfg_options: Optional[dict] = None):
        if not isinstance(model, torch.nn.Module):
            _, model = load_model(model, pretrained, 'cpu', cfg_options)
            pretrained = None
        if not callable(getattr(model, 'colorize', None)):
            raise ValueError(f'model type {type(model).__name__} has no colorize(); '
                             "use a config whose model is type='Colorization'")
        network_size(8, 8, size)  # validates size
        self.size, self.temperature = size, temperature
        if not hasattr(model, '_config'):
            model._config = Config()
        super().__init__(model, pretrained=pretrained or False, device=device)

    def _init_pipeline(self, cfg: Config):
        """A function: one input (path or array) -> (H, W, 3) uint8 RGB."""

        def load(source) -> np.ndarray:
            if not isinstance(source, np.ndarray):
                return read_rgb(source)
            if source.dtype != np.uint8 or source.shape[2:] not in ((), (3, )) \
                    or source.ndim < 2:
                raise ValueError('array inputs must be (H, W, 3) or (H, W) uint8, '
                                 f'got {source.dtype} {source.shape}')
            return np.repeat(source[..., None], 3, 2) if source.ndim == 2 else source

        return load

    def __call__(self,
                 inputs,
                 batch_size: int = 1,
                 out_dir: Optional[str] = None,
                 side_by_side: bool = False,
                 on_error: str = 'skip',
                 return_arrays: bool = True) -> dict:
        """Colorize ``inputs`` (see :func:`list_inputs`), ``batch_size`` at a time,
        with a progress bar on a terminal.

        Args:
            out_dir (str, optional): Write ``<out_dir>/<name>.png`` and, with
                ``side_by_side``, ``<name>_side_by_side.png`` (gray | colorized,
                plus | original when the input has colour).
            on_error (str): ``'skip'``: an unreadable file is skipped, a warning
                names it and the count so far; ``'raise'``: :class:`BadImageError`.
            return_arrays (bool): Keep the arrays (False: only the files written).

        Returns:
            dict: ``predictions``, per colorized input in input order: ``input``
            (path, or name of an array), ``out_files`` and, with ``return_arrays``,
            ``colorized`` (H, W, 3) uint8 and ``pred_ab`` (2, h, w) float32;
            ``skipped``: ``(input, reason)`` per unreadable file.
        """
        if on_error not in ('skip', 'raise') or batch_size < 1:
            raise ValueError("on_error must be 'skip' or 'raise' and batch_size >= 1, "
                             f'got {on_error!r} and {batch_size}')
        pairs = list_inputs(inputs, out_dir)
        skipped: List[Tuple[str, str]] = []
        batches = self.preprocess(pairs, batch_size, on_error == 'raise', skipped)
        if len(pairs) > batch_size and sys.stdout.isatty():
            batches = track(batches, 'Colorizing', ceil(len(pairs) / batch_size))
        predictions = []
        for batch in batches:
            outputs = self.forward(batch, with_gray=side_by_side)
            predictions += self.postprocess(batch, outputs, out_dir, side_by_side,
                                            return_arrays)
        return dict(predictions=predictions, skipped=skipped)

    def preprocess(self, pairs: list, batch_size: int, strict: bool, skipped: list):
        """Yield lists of ``(name, (H, W, 3) uint8 RGB, source)``, ``batch_size``
        inputs at a time; unreadable files raise (``strict``) or go to ``skipped``."""
        for chunk in self._get_chunk_data(pairs, batch_size):
            batch = []
            for source, name in chunk:
                try:
                    batch.append((name, self.pipeline(source), source))
                except BadImageError as err:
                    if strict:
                        raise
                    skipped.append((source, str(err)))
                    print_log(
                        f'ColorizationInferencer skipped {source} '
                        f'({len(skipped)} skipped so far): {err}',
                        logger='current',
                        level=logging.WARNING)
            yield batch

    def forward(self, batch: list, with_gray: bool = False) -> List[dict]:
        """:func:`colorize_arrays` of a batch of :meth:`preprocess`."""
        return colorize_arrays(self.model, [rgb for _, rgb, _ in batch], self.size,
                               self.temperature, with_gray)

    def postprocess(self, batch: list, outputs: List[dict], out_dir: Optional[str],
                    side_by_side: bool, return_arrays: bool) -> List[dict]:
        """Write a batch's files under ``out_dir``; one result dict per image."""
        results = []
        for (name, rgb, source), out in zip(batch, outputs):
            files, target = [], osp.join(out_dir or '', name)
            if out_dir is not None:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                files.append(target + '.png')
                Image.fromarray(out['colorized']).save(files[0])
            if out_dir is not None and side_by_side:
                panels = [out['gray'], out['colorized']] + [rgb] * out['has_color']
                files.append(target + '_side_by_side.png')
                Image.fromarray(np.concatenate(panels, axis=1)).save(files[1])
            result = dict(
                input=source if isinstance(source, str) else name, out_files=files)
            if return_arrays:
                result.update(colorized=out['colorized'], pred_ab=out['pred_ab'])
            results.append(result)
        return results
