"""Colorize images with a trained colorization model, as an mmpretrain inferencer."""
import copy
import logging
import os.path as osp
import re
import sys
from math import ceil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import load_checkpoint
from mmpretrain.apis import BaseInferencer, get_model
from mmpretrain.utils import track
from PIL import Image

from colorssl.color import lab_to_rgb, rgb8_to_lab
from colorssl.datasets.transforms.loading import (IMAGE_EXTENSIONS, BadImageError,
                                                  find_images, read_rgb)

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_of(model: str) -> str:
    """The config file of ``model``: a path, or a model name of ``model-index.yml``
    (the source checkout's: names need a checkout, paths do not).

    Raises:
        FileNotFoundError: neither (the message lists the colorization models).
    """
    if osp.isfile(model):
        return model
    index, names = REPO_ROOT / 'model-index.yml', {}
    for meta in yaml.safe_load(index.read_text())['Import'] if index.is_file() else []:
        for entry in yaml.safe_load((REPO_ROOT / meta).read_text())['Models']:
            names[entry['Name']] = str(REPO_ROOT / entry['Config'])
    if model not in names:
        known = ', '.join(sorted(n for n in names if n.startswith('colorization_')))
        raise FileNotFoundError(f'{model!r} is neither a config file nor a model name '
                                f'of {index}; colorization models: {known}')
    return names[model]


def load_model(config, checkpoint=None, device='cpu', cfg_options=None):
    """``(cfg, model)``: the model of ``config`` (a file, a model name of
    :func:`config_of` or a Config; ``cfg_options`` merged in) by mmpretrain's
    ``get_model``, with ``checkpoint``, on ``device``, in eval mode.

    Raises:
        FileNotFoundError: no such config or checkpoint file.
        ValueError: the checkpoint lacks parameters of the model.
    """
    if isinstance(config, Config):
        cfg, name = copy.deepcopy(config), config.filename or 'the config'
    else:
        name = config_of(str(config))
        cfg = Config.fromfile(name)
    cfg.merge_from_dict(cfg_options or {})
    model = get_model(cfg, pretrained=False)
    if checkpoint is None:
        print_log(
            f'no checkpoint given: the model of {name} has random weights (the '
            'metafiles list no trained weights; pass the checkpoint of a training)',
            logger='current',
            level=logging.WARNING)
    else:
        ckpt = load_checkpoint(model, checkpoint, 'cpu', strict=False, logger='silent')
        state = {re.sub(r'^module\.', '', k) for k in ckpt.get('state_dict', ckpt)}
        missing = [k for k, _ in model.named_parameters() if k not in state]
        if missing:
            raise ValueError(f'checkpoint {checkpoint} does not fit {name}: '
                             f'{len(missing)} parameters missing, e.g. {missing[:3]}')
    return model._config, model.to(device)


def network_size(height: int, width: int, size: int) -> tuple:
    """(h, w) the network sees: shorter side ``size``, aspect kept, multiples of 8."""
    if size <= 0 or size % 8:
        raise ValueError(f'size must be a positive multiple of 8, got {size}')
    long = max(8, int(round(max(height, width) * size / min(height, width) / 8)) * 8)
    return (size, long) if height <= width else (long, size)


def _resize(img: torch.Tensor, hw: tuple) -> torch.Tensor:
    """(1, 3, H, W) uint8 -> (1, 3, h, w) uint8, bilinear, antialiased."""
    if tuple(img.shape[-2:]) == hw:
        return img
    out = F.interpolate(
        img.float(), hw, mode='bilinear', antialias=hw[0] < img.shape[2])
    return out.round().clamp(0, 255).to(torch.uint8)


def _to_uint8(light: torch.Tensor, ab: torch.Tensor) -> np.ndarray:
    """L (1, 1, H, W) and ab (1, 2, H, W) -> (H, W, 3) uint8 RGB."""
    rgb = lab_to_rgb(torch.cat([light, ab], 1), clip=True)[0].permute(1, 2, 0)
    return (rgb * 255).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def colorize_arrays(model, images, size=256, temperature=None, with_gray=False):
    """Colorize (H, W, 3) uint8 RGB images with ``model.colorize``.

    The network sees (3, h, w) uint8 copies (:func:`network_size`), those of one
    (h, w) in one call; the predicted ab, resized bilinearly to (H, W), is joined to
    the image's own L.

    Returns:
        list[dict]: per image ``colorized`` (H, W, 3) uint8, ``pred_ab`` (2, h, w)
        float32, ``has_color`` (some |a| or |b| of the input above the data
        preprocessor's ``gray_thresh``) and, ``with_gray``, ``gray`` (H, W, 3) uint8.
    """
    pre = getattr(model, 'data_preprocessor', None)
    device, thresh = getattr(pre, 'device', 'cpu'), getattr(pre, 'gray_thresh', 5.)
    full = [torch.tensor(np.ascontiguousarray(rgb)).to(device) for rgb in images]
    full = [img.permute(2, 0, 1)[None] for img in full]
    groups, pred_ab, results = {}, {}, []
    for i, img in enumerate(full):
        groups.setdefault(network_size(*img.shape[-2:], size), []).append(i)
    for hw, idx in groups.items():
        batch = torch.cat([_resize(full[i], hw) for i in idx])
        if getattr(pre, 'channel_order', 'rgb') == 'bgr':
            batch = batch.flip(1)
        ab = model.colorize(batch, temperature=temperature)
        pred_ab.update(zip(idx, ab.float().split(1)))
    for i, img in enumerate(full):
        lab = rgb8_to_lab(img)
        ab = F.interpolate(pred_ab[i], img.shape[-2:], mode='bilinear')
        results.append(dict(colorized=_to_uint8(lab[:, :1], ab)))
        results[-1].update(
            pred_ab=pred_ab[i][0].cpu().numpy(),
            has_color=bool((lab[:, 1:].abs() > thresh).any()))
        if with_gray:
            results[-1]['gray'] = _to_uint8(lab[:, :1], torch.zeros_like(ab))
    return results


def list_inputs(inputs, out_dir=None) -> list:
    """Image files, folders (:func:`find_images`, nothing below ``out_dir``) and
    (H, W, 3) / (H, W) uint8 RGB arrays -> ``(source, name)`` pairs, ``name`` the
    output path without extension (below the input folder, the file's stem or
    ``array_<i>``; ``_2``, ``_3`` ... added on a clash).

    Raises:
        FileNotFoundError: an input does not exist, or a folder holds no image.
        ValueError: an output under ``out_dir`` would overwrite an input.
    """
    single = isinstance(inputs, (str, Path, np.ndarray))
    found = []
    for i, item in enumerate([inputs] if single else inputs):
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
    """Colorize photos (gray or colour) with :func:`colorize_arrays`.

    Args:
        model (str | Config | BaseModel): A model name of ``model-index.yml``, a
            config file or Config of a model with ``colorize``, or such a model.
        pretrained (str, optional): Checkpoint file (:func:`load_model`).
        device (str): Defaults to ``'cpu'``.
        size (int): Shorter side the network sees, a multiple of 8. Defaults to 256.
        temperature (float, optional): Annealed-mean temperature; None: the head's.
        cfg_options (dict, optional): Overrides merged into the config.

    Example:
        >>> inferencer = ColorizationInferencer('config.py', pretrained='ckpt.pth')
        >>> result = inferencer('old_photos/', batch_size=8, out_dir='colorized/')
        >>> result['predictions'][0]['colorized']  # (H, W, 3) uint8 RGB
    """

    def __init__(self,
                 model,
                 pretrained=None,
                 device='cpu',
                 size=256,
                 temperature=None,
                 cfg_options=None):
        if not isinstance(model, torch.nn.Module):
            _, model = load_model(model, pretrained, device, cfg_options)
            pretrained = None
        if not callable(getattr(model, 'colorize', None)):
            raise ValueError(f'model type {type(model).__name__} has no colorize(); '
                             "use a config whose model is type='Colorization'")
        self.size, self.temperature = network_size(8, 8, size)[0], temperature
        model._config = getattr(model, '_config', Config())
        super().__init__(model, pretrained=pretrained or False, device=device)

    def _init_pipeline(self, cfg: Config):
        """One input (a file or an (H, W[, 3]) uint8 array) -> (H, W, 3) uint8 RGB."""
        return lambda x: read_rgb(x) if not isinstance(x, np.ndarray) else (np.repeat(
            x[..., None], 3, 2) if x.ndim == 2 else x)

    def __call__(self,
                 inputs,
                 batch_size=1,
                 out_dir=None,
                 side_by_side=False,
                 on_error='skip',
                 return_arrays=True) -> dict:
        """Colorize ``inputs`` (:func:`list_inputs`), ``batch_size`` at a time.

        Args:
            out_dir (str, optional): Write ``<name>.png`` there and, ``side_by_side``,
                ``<name>_side_by_side.png`` (gray | colorized | original if colour).
            on_error (str): ``'skip'`` (with a warning) or ``'raise'`` a bad file.
            return_arrays (bool): Keep the arrays, not only the files written.

        Returns:
            dict: ``predictions``: per input ``input``, ``out_files`` and, with
            ``return_arrays``, ``colorized`` and ``pred_ab`` (:func:`colorize_arrays`);
            ``skipped``: ``(file, reason)`` pairs.
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        pairs = list_inputs(inputs, out_dir)
        chunks = self._get_chunk_data(pairs, batch_size)
        if len(pairs) > batch_size and sys.stdout.isatty():
            chunks = track(chunks, 'Colorizing', ceil(len(pairs) / batch_size))
        predictions, skipped = [], []
        for chunk in chunks:
            batch = []
            for source, name in chunk:
                try:
                    batch.append((source, name, self.pipeline(source)))
                except BadImageError as err:
                    if on_error == 'raise':
                        raise
                    skipped.append((source, str(err)))
                    print_log(
                        f'ColorizationInferencer skipped {source} ({len(skipped)} '
                        f'skipped so far): {err}', 'current', logging.WARNING)
            gray = side_by_side and out_dir is not None
            outputs = colorize_arrays(self.model, [rgb for *_, rgb in batch], self.size,
                                      self.temperature, gray)
            predictions += self.postprocess(batch, outputs, out_dir, return_arrays)
        return dict(predictions=predictions, skipped=skipped)

    def postprocess(self, batch, outputs, out_dir=None, return_arrays=True) -> list:
        """Write the files of a batch of ``(source, name, rgb)`` under ``out_dir``;
        one result dict per image."""
        results = []
        for (source, name, rgb), out in zip(batch, outputs):
            files, target = [], osp.join(out_dir or '', name)
            if out_dir is not None:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                files.append(target + '.png')
                Image.fromarray(out['colorized']).save(files[0])
            if 'gray' in out:
                panels = [out['gray'], out['colorized']] + [rgb] * out['has_color']
                files.append(target + '_side_by_side.png')
                Image.fromarray(np.concatenate(panels, axis=1)).save(files[1])
            result = dict(
                input=source if isinstance(source, str) else name, out_files=files)
            if return_arrays:
                result.update(colorized=out['colorized'], pred_ab=out['pred_ab'])
            results.append(result)
        return results
