"""Read a colorization checkpoint, convert its stem, check that it fills a module."""
import os.path as osp
import re
from collections import OrderedDict
from itertools import takewhile
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader
from torch import Tensor

from .stem_fold import fit_srgb_to_lightness, fold_l_into_rgb_conv, gray_fit

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
INPUT_MODES = ('rgb', 'gray', 'l')
CONVERTED_META_KEY = 'colorssl_converted'  # in the meta of converted checkpoints


class CheckpointMismatchError(ValueError):
    """A checkpoint would leave module keys at random init."""


class ColorizationCheckpoint(NamedTuple):
    """A colorization backbone: ``state_dict`` keys without ``prefix``; the network
    saw ``(L - l_cent) / l_norm``; ``backbone_type`` from the stored config."""
    filename: str
    prefix: str
    state_dict: 'OrderedDict[str, Tensor]'
    l_cent: float
    l_norm: float
    backbone_type: Optional[str]


class StemInfo(NamedTuple):
    """Keys of the (O, C, k, k) stem weight, its bias and the running mean of the
    BatchNorm right after it (when the conv has no bias)."""
    weight: str
    bias: Optional[str]
    running_mean: Optional[str]


class KeyReport(NamedTuple):
    """Sorted missing and unexpected keys, ``(key, ckpt_shape, module_shape)``."""
    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, tuple, tuple]]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


def _short_list(keys: Sequence, limit: int = 12) -> str:
    more = f', ... ({len(keys)} in all)' if len(keys) > limit else ''
    return ', '.join(str(k) for k in keys[:limit]) + more


def strip_prefix(state_dict: Dict[str, Tensor],
                 prefix: str,
                 filename: str = 'checkpoint') -> 'OrderedDict[str, Tensor]':
    """The entries under ``prefix`` (a final dot is added), keys without it; a
    ValueError naming ``filename`` and the key groups if there is none."""
    dotted = prefix if prefix.endswith('.') else prefix + '.'
    out = OrderedDict(
        (k[len(dotted):], v) for k, v in state_dict.items() if k.startswith(dotted))
    if not out:
        groups = sorted({k.split('.')[0] + '.' for k in state_dict})
        raise ValueError(f'{filename}: prefix {prefix!r} matches no key; its keys '
                         f'start with {groups}')
    return out


def checkpoint_tensors(checkpoint: dict) -> 'OrderedDict[str, Tensor]':
    """The tensors of a loaded checkpoint, without DDP's ``module.`` prefix."""
    state = checkpoint.get('state_dict', checkpoint)
    return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items()
                       if isinstance(v, Tensor))


def load_pretrained_state(checkpoint: str,
                          prefix: Optional[str] = None) -> Dict[str, Tensor]:
    """The tensors stock ``init_cfg=dict(type='Pretrained')`` loads."""
    state = checkpoint_tensors(CheckpointLoader.load_checkpoint(checkpoint, 'cpu'))
    return strip_prefix(state, prefix, checkpoint) if prefix else state


def load_colorization_checkpoint(filename: str,
                                 prefix: str = 'backbone.',
                                 l_cent: Optional[float] = None,
                                 l_norm: Optional[float] = None
                                 ) -> ColorizationCheckpoint:
    """Read the backbone of a ``Colorization`` checkpoint.

    Args:
        filename (str): A local path or URL of an mmengine checkpoint.
        prefix (str): Prefix of the backbone keys. Defaults to ``'backbone.'``.
        l_cent, l_norm (float, optional): Override the L scaling of the config in
            ``meta['cfg']`` (``model.data_preprocessor``).

    Returns:
        ColorizationCheckpoint
    """
    prefix = prefix if prefix.endswith('.') else prefix + '.'
    if '://' not in filename and not osp.isfile(filename):
        raise FileNotFoundError(f'colorization checkpoint not found: {filename!r}')
    ckpt = CheckpointLoader.load_checkpoint(filename, 'cpu')
    meta = ckpt.get('meta') or {}
    if CONVERTED_META_KEY in meta:
        raise ValueError(f'{filename} was already converted by colorization_to_backbone'
                         ".py: load it with init_cfg=dict(type='Pretrained', ...), "
                         "not 'ColorizationPretrained'")
    state, model = checkpoint_tensors(ckpt), {}
    if meta.get('cfg'):
        try:
            model = Config.fromstring(meta['cfg'], '.py').get('model') or {}
        except Exception as err:
            raise ValueError(f"{filename}: could not parse meta['cfg'] ({err}); pass "
                             "l_cent and l_norm and remove meta['cfg']") from err
        if str(model.get('type')).split('.')[-1] != 'Colorization':
            raise ValueError(
                f"{filename} is not a colorization checkpoint: its config (meta['cfg'])"
                f" has model.type={model.get('type')!r}, expected 'Colorization'")
    if not any(k.startswith('head.conv_seg.') for k in state):
        groups = sorted({k.split('.')[0] + '.' for k in state})
        raise ValueError(f"{filename} is not a colorization checkpoint: it has no "
                         f"'head.conv_seg.*' keys (ColorizationHead); its keys start "
                         f'with {groups}')
    backbone = strip_prefix(state, prefix, filename)
    if not meta.get('cfg') and (l_cent is None or l_norm is None):
        raise ValueError(
            f"{filename} has no training config (meta['cfg']) to read the L scaling "
            "from: pass l_cent and l_norm (the data preprocessor's, default 50, 1)")
    preprocessor = model.get('data_preprocessor') or {}
    l_cent = preprocessor.get('l_cent', 50.) if l_cent is None else l_cent
    l_norm = preprocessor.get('l_norm', 1.) if l_norm is None else l_norm
    backbone_type = (model.get('backbone') or {}).get('type')
    return ColorizationCheckpoint(filename, prefix, backbone, float(l_cent),
                                  float(l_norm), backbone_type)


def find_stem(state_dict: Dict[str, Tensor]) -> StemInfo:
    """The first 4-D ``*.weight``, its bias, else the running mean of a BatchNorm
    before the next 4-D weight."""
    keys = list(state_dict)
    index = next((i for i, k in enumerate(keys)
                  if k.endswith('.weight') and state_dict[k].dim() == 4), None)
    if index is None:
        raise ValueError('no 4-D conv weight (*.weight of shape (O, C, k, k)) in the '
                         f'backbone state dict; its keys: {_short_list(keys)}')
    weight = keys[index]
    bias = weight[:-len('weight')] + 'bias'
    if bias in state_dict:
        return StemInfo(weight, bias, None)
    size = state_dict[weight].shape[:1]
    norms = (
        k for k in takewhile(lambda k: state_dict[k].dim() != 4, keys[index + 1:])
        if k.endswith('.running_mean') and state_dict[k].shape == size)
    return StemInfo(weight, None, next(norms, None))


def convert_colorization_backbone(ckpt: ColorizationCheckpoint,
                                  input: str = 'rgb',
                                  mean: Sequence[float] = IMAGENET_MEAN,
                                  std: Sequence[float] = IMAGENET_STD,
                                  channel_order: str = 'rgb',
                                  fit: Optional[Sequence[float]] = None
                                  ) -> Tuple['OrderedDict[str, Tensor]', dict]:
    """Re-target the stem of a colorization backbone to another input.

    Args:
        ckpt (ColorizationCheckpoint): From :func:`load_colorization_checkpoint`.
        input (str): ``'rgb'`` (L fitted on sRGB), ``'gray'`` (``RGBToGray`` images,
            exact) or ``'l'`` (unchanged).
        mean, std (Sequence[float]): The new input's, in pixel units and network
            channel order. Default to ImageNet RGB's.
        channel_order (str): ``'rgb'`` or ``'bgr'``. Defaults to ``'rgb'``.
        fit (Sequence[float], optional): Override the (C + 1,) L-on-pixels fit.

    Returns:
        tuple[OrderedDict, dict]: The converted state dict and what was done.
    """
    if input not in INPUT_MODES or channel_order not in ('rgb', 'bgr'):
        raise ValueError(f'input must be one of {INPUT_MODES} and channel_order '
                         f"'rgb' or 'bgr', got {input!r}, {channel_order!r}")
    state = OrderedDict(ckpt.state_dict)
    stem = find_stem(state)
    info = dict(input=input, source=ckpt.filename, stem=stem.weight)
    info.update(l_cent=ckpt.l_cent, l_norm=ckpt.l_norm)
    if input == 'l':
        return state, info
    weight = state[stem.weight]
    convs = [k for k in state if k.endswith('.weight') and state[k].dim() == 4]
    channels = weight.size(1)  # below: convs beside the stem (RepVGG, MobileOne)
    parallel = list(takewhile(lambda k: 1 < channels == state[k].size(1), convs[1:]))
    if parallel:
        raise ValueError(
            f'cannot convert the stem {stem.weight}: {_short_list(parallel)} also take '
            f"the {channels}-channel input (a multi-branch stem): use input='l'")
    if stem.bias is None and stem.running_mean is None:
        raise ValueError(
            f'cannot convert the stem {stem.weight} {tuple(weight.shape)}: '
            'it has no bias and no BatchNorm after it for the offset')
    if input == 'rgb' and len(mean) != 3:
        raise ValueError(f"input='rgb' needs 3 channels of mean/std, got mean={mean}")
    if fit is None:
        fit = fit_srgb_to_lightness() if input == 'rgb' else gray_fit(len(mean))
        fit = fit[[2, 1, 0, 3]] if input == 'rgb' and channel_order == 'bgr' else fit
    bias = state[stem.bias] if stem.bias else None
    new_weight, offset = fold_l_into_rgb_conv(weight, bias, mean, std, ckpt.l_cent,
                                              ckpt.l_norm, fit)
    into = stem.bias or stem.running_mean  # BN(z + o) = BN'(z), running_mean' = rm - o
    sign = 1 if stem.bias else -1
    state[stem.weight], state[into] = new_weight, state[into] + sign * offset
    info.update(offset_into=into, in_channels=len(mean))
    info.update(mean=[float(m) for m in mean], std=[float(v) for v in std])
    info.update(channel_order=channel_order, fit=[round(float(v), 6) for v in fit])
    return state, info


def fill_norm_affine(state_dict: Dict[str, Tensor],
                     expected: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """A copy of ``state_dict`` with ``weight = 1``, ``bias = 0`` added for the norm
    layers (``<name>.running_mean`` present) saved without affine parameters."""
    out = OrderedDict(state_dict)
    for key, value in expected.items():
        name, _, leaf = key.rpartition('.')
        if key not in out and leaf in ('weight', 'bias') and \
                f'{name}.running_mean' in out:
            out[key] = torch.full_like(value, float(leaf == 'weight'))
    return out


def compare_state_dict(expected: Dict[str, Tensor],
                       state_dict: Dict[str, Tensor]) -> KeyReport:
    """Compare the keys and shapes of ``state_dict`` with a module's ``expected``."""
    return KeyReport(
        sorted(k for k in expected if k not in state_dict),
        sorted(k for k in state_dict if k not in expected),
        sorted((k, tuple(state_dict[k].shape), tuple(v.shape))
               for k, v in expected.items()
               if k in state_dict and state_dict[k].shape != v.shape))


def format_report(report: KeyReport) -> str:
    """One line per kind of problem, or ``'all keys match'``."""
    titles = ('missing keys (would stay at random init)',
              'shape mismatches (checkpoint vs module)',
              'unexpected keys (not in the module, ignored)')
    mismatched = [f'{k} {a} vs {b}' for k, a, b in report.mismatched]
    keys = (report.missing, mismatched, report.unexpected)
    lines = [f'{t}: {_short_list(k)}' for t, k in zip(titles, keys) if k]
    return '\n'.join(lines) or 'all keys match'


def _stem_hint(report: KeyReport, state_dict: Dict[str, Tensor],
               input: Optional[str]) -> str:
    deep = [k for k in report.missing if re.match(r'stem\.\d+\.(conv\.)?weight', k)]
    if deep and 'conv1.weight' in report.unexpected:
        shape = tuple(state_dict['conv1.weight'].shape)
        return (
            f'\nThe module has a deep stem ({", ".join(deep)}) but the checkpoint '
            f"a single conv1.weight {shape}: use type='ResNet' (deep_stem=False, "
            "not 'ResNetV1c'/'ResNetV1d') in mmdet/mmseg or type='mmpretrain.ResNet'.")
    for key, theirs, ours in report.mismatched:
        if len(theirs) == 4 and theirs[1] != ours[1] and \
                (theirs[0], *theirs[2:]) == (ours[0], *ours[2:]):
            return (f'\nThe stem {key} takes {theirs[1]} channel(s) in the checkpoint '
                    f'and {ours[1]} in the module (input={input!r}): match input and '
                    'mean/std to in_channels.')
    return ''


def check_loadable(expected: Dict[str, Tensor],
                   state_dict: Dict[str, Tensor],
                   where: str,
                   input: Optional[str] = None,
                   allow_missing: Sequence[str] = ()) -> KeyReport:
    """Raise :class:`CheckpointMismatchError` when loading ``state_dict`` would leave
    keys of the module's ``expected`` random or mis-shaped.

    Args:
        expected (dict): The module's ``state_dict()``.
        state_dict (dict): What will be loaded.
        where (str): Names the checkpoint and module in the error.
        input (str, optional): The conversion mode, for the hint.
        allow_missing (Sequence[str]): Regexes of keys that may stay random.

    Returns:
        KeyReport: Without the allowed missing keys.
    """
    missing, unexpected, mismatched = compare_state_dict(expected, state_dict)
    missing = [k for k in missing if not any(re.search(p, k) for p in allow_missing)]
    report = KeyReport(missing, unexpected, mismatched)
    if not report.ok:
        raise CheckpointMismatchError(
            f'{where}: the checkpoint does not fill the module:\n'
            f'{format_report(report)}{_stem_hint(report, state_dict, input)}')
    return report
