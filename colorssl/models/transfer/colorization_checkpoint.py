"""Read a colorization checkpoint (:func:`load_colorization_checkpoint`), re-target
its stem from centred L to normalised RGB or gray pixels
(:func:`convert_colorization_backbone`), and check that it fills a target module
(:func:`check_loadable`); errors name keys and expectations."""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .state_dict_keys import checkpoint_tensors, key_groups, strip_prefix
from .stem_fold import fit_srgb_to_lightness, fold_l_into_rgb_conv, gray_fit

#: Mean and std (pixel units) of the stock ImageNet RGB normalisation.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
INPUT_MODES = ('rgb', 'gray', 'l')
#: Written into the ``meta`` of converted checkpoints.
CONVERTED_META_KEY = 'colorssl_converted'


class CheckpointMismatchError(ValueError):
    """A checkpoint would leave module keys at random init (listed in the message)."""


class ColorizationCheckpoint(NamedTuple):
    """The backbone of a colorization checkpoint.

    Attributes:
        filename (str): Where it was read from.
        prefix (str): The prefix stripped from the keys (e.g. ``'backbone.'``).
        state_dict (OrderedDict): The backbone's tensors, keys without ``prefix``.
        l_cent (float): The network saw ``(L - l_cent) / l_norm``...
        l_norm (float): ...with L in [0, 100].
        backbone_type (str | None): ``model.backbone.type`` of its config, if known.
    """
    filename: str
    prefix: str
    state_dict: 'OrderedDict[str, Tensor]'
    l_cent: float
    l_norm: float
    backbone_type: Optional[str]


class StemInfo(NamedTuple):
    """Where the first conv and its constant offset live in a state dict.

    Attributes:
        weight (str): Key of the (O, C, k, k) stem conv weight.
        bias (str | None): Key of its bias, if any.
        running_mean (str | None): Key of the running mean of the first BatchNorm
            after it (used when the conv has no bias).
    """
    weight: str
    bias: Optional[str]
    running_mean: Optional[str]


class KeyReport(NamedTuple):
    """How a state dict fits a module (all lists sorted).

    Attributes:
        missing (list[str]): Module keys the state dict lacks (they stay random).
        unexpected (list[str]): State dict keys the module does not have.
        mismatched (list[tuple]): ``(key, checkpoint_shape, module_shape)``.
    """
    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, tuple, tuple]]

    @property
    def ok(self) -> bool:
        """Every module key gets a tensor of the right shape."""
        return not self.missing and not self.mismatched


def _short_list(keys: Sequence, limit: int = 12) -> str:
    keys = list(keys)
    text = ', '.join(str(k) for k in keys[:limit])
    if len(keys) > limit:
        text += f', ... ({len(keys)} in all)'
    return text


def _read_cfg(meta: dict, filename: str):
    """The training config stored by mmengine in ``meta['cfg']``, or None."""
    text = meta.get('cfg') if isinstance(meta, dict) else None
    if not text:
        return None
    from mmengine.config import Config
    if isinstance(text, Config):
        return text
    try:
        return Config.fromstring(text, file_format='.py')
    except Exception as err:  # a config of a package not installed here, ...
        raise ValueError(
            f"{filename}: could not parse the training config in meta['cfg'] "
            f'({type(err).__name__}: {err}); pass l_cent and l_norm explicitly and '
            "remove meta['cfg'] to skip the config checks") from err


def _model_type(cfg) -> str:
    model = cfg.get('model') or {}
    return str(model.get('type', ''))


def load_colorization_checkpoint(filename: str,
                                 prefix: str = 'backbone.',
                                 l_cent: Optional[float] = None,
                                 l_norm: Optional[float] = None,
                                 map_location: str = 'cpu') -> ColorizationCheckpoint:
    """Read the backbone of a ``Colorization`` checkpoint.

    Args:
        filename (str): A checkpoint written by mmengine for a ``Colorization`` model
            (local path or any URL mmengine's ``CheckpointLoader`` reads).
        prefix (str): Prefix of the backbone's keys. Defaults to ``'backbone.'``.
        l_cent (float, optional): Override ``model.data_preprocessor.l_cent`` of the
            stored config (required when the checkpoint has no config).
        l_norm (float, optional): Override ``model.data_preprocessor.l_norm``.
        map_location (str): Defaults to ``'cpu'``.

    Returns:
        ColorizationCheckpoint

    Raises:
        ValueError: The file is not a colorization checkpoint (its config's
            ``model.type`` is not ``Colorization``, no ``head.conv_seg.`` keys), was
            already converted, or ``prefix`` matches no key.
    """
    from mmengine.runner import CheckpointLoader
    if not prefix or not isinstance(prefix, str):
        raise ValueError(f"prefix must be a non-empty str such as 'backbone.', got "
                         f'{prefix!r}')
    if not prefix.endswith('.'):
        prefix += '.'
    if '://' not in filename and not osp.isfile(filename):
        raise FileNotFoundError(f'colorization checkpoint not found: {filename!r}')
    ckpt = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{filename}: expected a checkpoint dict, got {type(ckpt)}')
    meta = ckpt.get('meta') or {}
    if isinstance(meta, dict) and CONVERTED_META_KEY in meta:
        raise ValueError(
            f'{filename} was already converted by colorization_to_backbone.py (its '
            f"stem takes {meta[CONVERTED_META_KEY].get('input')!r} input): load it "
            "with init_cfg=dict(type='Pretrained', checkpoint=..., "
            "prefix='backbone.'), not 'ColorizationPretrained'")
    state = checkpoint_tensors(ckpt)
    cfg = _read_cfg(meta, filename)
    if cfg is not None:
        model_type = _model_type(cfg)
        if model_type.split('.')[-1] != 'Colorization':
            raise ValueError(
                f"{filename} is not a colorization checkpoint: its config (meta['cfg'])"
                f" has model.type={model_type!r}, expected 'Colorization'")
    if not any(k.startswith('head.conv_seg.') for k in state):
        raise ValueError(
            f'{filename} is not a colorization checkpoint: it has no '
            "'head.conv_seg.*' keys (the ColorizationHead's ab-bin classifier); its "
            f'keys start with {key_groups(state)}')
    backbone = strip_prefix(state, prefix)
    if not backbone:
        raise ValueError(
            f'{filename}: prefix {prefix!r} matches no key; the checkpoint\'s keys '
            f"start with {key_groups(state)} (a Colorization model's backbone is "
            "under 'backbone.')")

    if l_cent is None or l_norm is None:
        if cfg is None:
            raise ValueError(
                f"{filename} has no training config (meta['cfg']) to read the L "
                'scaling from: pass l_cent and l_norm (the colorization data '
                "preprocessor's, default 50 and 1)")
        # ColorizationDataPreprocessor's defaults where the config leaves them out
        preprocessor = cfg.model.get('data_preprocessor') or {}
        l_cent = float(preprocessor.get('l_cent', 50.)) if l_cent is None else l_cent
        l_norm = float(preprocessor.get('l_norm', 1.)) if l_norm is None else l_norm
    backbone_type = None
    if cfg is not None:
        backbone_type = (cfg.model.get('backbone') or {}).get('type')
    return ColorizationCheckpoint(filename, prefix, backbone, float(l_cent),
                                  float(l_norm), backbone_type)


def find_stem(state_dict: Dict[str, Tensor]) -> StemInfo:
    """Locate the first conv and where its constant offset can go.

    The stem is the first 4-D ``*.weight`` in the state dict's order (the modules'
    registration order: ``conv1`` of a ResNet, ``stem.0`` of a deep-stem ResNet,
    ``conv1.0`` of ``ColorizationNet``). Its offset goes into ``<stem>.bias`` if that
    exists, else into the running mean of the first BatchNorm that follows it in the
    state dict (``bn1`` of a ResNet), which must be the layer right after the conv.
    """
    keys = list(state_dict)
    for index, key in enumerate(keys):
        if key.endswith('.weight') and state_dict[key].dim() == 4:
            break
    else:
        raise ValueError('no 4-D conv weight (*.weight of shape (O, C, k, k)) in the '
                         f'backbone state dict; its keys: {_short_list(keys)}')
    stem = key[:-len('weight')]
    out_channels = state_dict[key].size(0)
    bias = stem + 'bias' if stem + 'bias' in state_dict else None
    running_mean = None
    if bias is None:
        for later in keys[index + 1:]:
            tensor = state_dict[later]
            if tensor.dim() == 4:
                break  # the next conv came first: no norm right after the stem
            if later.endswith('.running_mean') and tensor.shape == (out_channels, ):
                running_mean = later
                break
    return StemInfo(key, bias, running_mean)


def parallel_input_convs(state_dict: Dict[str, Tensor], stem: StemInfo) -> List[str]:
    """The 4-D weights after the stem that take as many (> 1) input channels, up to
    the first that takes another number: parallel branches on the input, as in the
    re-parameterisable stems of RepVGG and MobileOne, which one fold cannot convert."""
    keys = list(state_dict)
    channels = state_dict[stem.weight].size(1)
    found = []
    for key in keys[keys.index(stem.weight) + 1:] if channels > 1 else ():
        tensor = state_dict[key]
        if key.endswith('.weight') and tensor.dim() == 4:
            if tensor.size(1) != channels:
                break
            found.append(key)
    return found


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
        input (str): What the fine-tuned network is fed:

            - ``'rgb'``: colour images normalised by ``(p - mean) / std``; the stem
              takes ``len(mean)`` (= 3) channels, L approximated by an affine fit on
              sRGB (:func:`fit_srgb_to_lightness`);
            - ``'gray'``: ``RGBToGray`` images (every channel ``255 * L / 100``)
              normalised by ``mean`` / ``std``; the stem takes ``len(mean)`` channels
              (1 or 3) and the conversion is exact;
            - ``'l'``: unchanged; the network must be fed ``(L - l_cent) / l_norm``.
        mean (Sequence[float]): The fine-tuning data preprocessor's mean, pixel units,
            in the order the network sees the channels. Defaults to ImageNet RGB.
        std (Sequence[float]): Its std. Defaults to ImageNet RGB.
        channel_order (str): ``'rgb'`` or ``'bgr'``, the network's channel order for
            ``input='rgb'`` (mmdet/mmseg/mmpretrain configs with ``bgr_to_rgb=True`` /
            ``to_rgb=True`` feed RGB). Defaults to ``'rgb'``.
        fit (Sequence[float], optional): Override the (C + 1,) L-on-pixels
            coefficients, in ``channel_order``.

    Returns:
        tuple[OrderedDict, dict]: The converted state dict (keys without prefix) and a
        description of the conversion (input, stem keys, fit, mean, std, ...).
    """
    if input not in INPUT_MODES:
        raise ValueError(f'input must be one of {INPUT_MODES}, got {input!r}')
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    state = OrderedDict(ckpt.state_dict)
    stem = find_stem(state)
    info = dict(
        input=input,
        source=ckpt.filename,
        stem=stem.weight,
        l_cent=ckpt.l_cent,
        l_norm=ckpt.l_norm)
    if input == 'l':
        return state, info
    parallel = parallel_input_convs(state, stem)
    if parallel:
        raise ValueError(
            f'cannot convert the stem {stem.weight}: {_short_list(parallel)} also '
            f'take the {state[stem.weight].size(1)}-channel input (a multi-branch '
            "stem); only input='l' (the stem unchanged) is supported for it")
    mean = [float(m) for m in mean]
    std = [float(s) for s in std]
    if len(mean) != len(std) or not mean:
        raise ValueError(f'mean and std must have the same, non-zero length, got '
                         f'mean={mean}, std={std}')
    if fit is None:
        if input == 'rgb':
            if len(mean) != 3:
                raise ValueError("input='rgb' needs 3 channels of mean/std, got "
                                 f'mean={mean}')
            fit = fit_srgb_to_lightness()
            if channel_order == 'bgr':
                fit = fit[[2, 1, 0, 3]]
        else:
            fit = gray_fit(len(mean))
    fit = torch.as_tensor(fit, dtype=torch.float64)
    weight = state[stem.weight]
    bias = state[stem.bias] if stem.bias else None
    if bias is None and stem.running_mean is None:
        raise ValueError(
            f'cannot convert the stem {stem.weight} {tuple(weight.shape)}: it has no '
            'bias and no BatchNorm (running_mean of shape '
            f'({weight.size(0)},)) follows it to take the constant offset')
    new_weight, offset = fold_l_into_rgb_conv(weight, bias, mean, std, ckpt.l_cent,
                                              ckpt.l_norm, fit)
    state[stem.weight] = new_weight
    if bias is not None:
        state[stem.bias] = bias + offset
        info['offset_into'] = stem.bias
    else:
        # BN(z_L) = BN'(z_rgb) with z_L = z_rgb + offset and
        # running_mean' = rm - offset.
        state[stem.running_mean] = state[stem.running_mean] - offset
        info['offset_into'] = stem.running_mean
    info.update(
        mean=mean,
        std=std,
        channel_order=channel_order,
        fit=[round(v, 6) for v in fit.tolist()],
        in_channels=len(mean))
    return state, info


def fill_norm_affine(state_dict: Dict[str, Tensor],
                     expected: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Give norm layers trained without scale and shift (``affine=False``, as the
    released colorization network) the identity ``weight = 1``, ``bias = 0`` that a
    target with affine norm layers expects.

    Only keys ``<name>.weight`` / ``<name>.bias`` missing from ``state_dict`` whose
    ``<name>.running_mean`` is in it are added; the input is not modified.
    """
    out = OrderedDict(state_dict)
    for key, value in expected.items():
        name, _, leaf = key.rpartition('.')
        if key in out or leaf not in ('weight', 'bias') or \
                f'{name}.running_mean' not in out:
            continue
        out[key] = (
            torch.ones_like(value) if leaf == 'weight' else torch.zeros_like(value))
    return out


def compare_state_dict(expected: Dict[str, Tensor],
                       state_dict: Dict[str, Tensor]) -> KeyReport:
    """Compare ``state_dict`` with the keys/shapes of ``expected`` (a module's
    ``state_dict()`` or a dict of shapes)."""

    def shape(v):
        return tuple(v.shape) if hasattr(v, 'shape') else tuple(v)

    missing = sorted(k for k in expected if k not in state_dict)
    unexpected = sorted(k for k in state_dict if k not in expected)
    mismatched = sorted(
        (k, shape(state_dict[k]), shape(expected[k])) for k in expected
        if k in state_dict and shape(state_dict[k]) != shape(expected[k]))
    return KeyReport(missing, unexpected, mismatched)


def format_report(report: KeyReport) -> str:
    """One line per problem kind, for logs and errors."""
    lines = []
    if report.missing:
        lines.append(f'missing keys (would stay at random init): '
                     f'{_short_list(report.missing)}')
    if report.mismatched:
        lines.append('shape mismatches (checkpoint vs module): ' + _short_list(
            [f'{k} {tuple(a)} vs {tuple(b)}' for k, a, b in report.mismatched]))
    if report.unexpected:
        lines.append(f'unexpected keys (not in the module, ignored): '
                     f'{_short_list(report.unexpected)}')
    return '\n'.join(lines) if lines else 'all keys match'


_DEEP_STEM = re.compile(r'^stem\.\d+\.(conv\.)?weight$')  # mmdet/mmseg, mmpretrain


def _stem_hint(report: KeyReport, expected: Dict[str, Tensor],
               state_dict: Dict[str, Tensor], input: Optional[str]) -> str:
    """Explain the common stem problems in words."""
    target_deep = [k for k in report.missing if _DEEP_STEM.match(k)]
    source_plain = [k for k in report.unexpected if k == 'conv1.weight']
    if target_deep and source_plain:
        shape = tuple(state_dict['conv1.weight'].shape)
        return (f'\nThe module has a deep stem ({", ".join(target_deep)}: three 3x3 '
                f'convs, e.g. ResNetV1c/ResNetV1d) but the checkpoint has a single '
                f'conv1.weight {shape}. Use a backbone whose stem matches the '
                "colorization ResNet: type='ResNet' with deep_stem=False in "
                "mmdet/mmseg (not 'ResNetV1c'/'ResNetV1d') or "
                "type='mmpretrain.ResNet'.")
    if [k for k in report.unexpected if _DEEP_STEM.match(k)] and \
            'conv1.weight' in report.missing:
        return ('\nThe checkpoint has a deep stem (stem.*) but the module a single '
                'conv1: build the backbone with deep_stem=True (e.g. ResNetV1c).')
    for key, ckpt_shape, module_shape in report.mismatched:
        if len(ckpt_shape) == 4 and ckpt_shape[0] == module_shape[0] and \
                ckpt_shape[2:] == module_shape[2:] and ckpt_shape[1] != module_shape[1]:
            return (f'\nThe stem {key} takes {ckpt_shape[1]} channel(s) in the '
                    f'checkpoint and {module_shape[1]} in the module (input={input!r}):'
                    " set input='rgb' (3 channels) or 'gray' with mean/std of as many "
                    "channels as the backbone's in_channels, or change in_channels.")
    return ''


def check_loadable(expected: Dict[str, Tensor],
                   state_dict: Dict[str, Tensor],
                   where: str,
                   input: Optional[str] = None,
                   allow_missing: Sequence[str] = ()) -> KeyReport:
    """Raise when loading ``state_dict`` would leave keys of ``expected`` random.

    Args:
        expected (dict): The target module's ``state_dict()`` (or key -> shape).
        state_dict (dict): What will be loaded (keys relative to the module).
        where (str): Names the checkpoint and module in the error.
        input (str, optional): The conversion mode, for the hint.
        allow_missing (Sequence[str]): Regexes of module keys allowed to be missing.

    Returns:
        KeyReport: With ``missing`` reduced by ``allow_missing``.

    Raises:
        CheckpointMismatchError: Missing keys or shape mismatches, listed, with a
            hint for stems.
    """
    report = compare_state_dict(expected, state_dict)
    patterns = [re.compile(p) for p in allow_missing]
    missing = [k for k in report.missing if not any(p.search(k) for p in patterns)]
    report = KeyReport(missing, report.unexpected, report.mismatched)
    if not report.ok:
        raise CheckpointMismatchError(
            f'{where}: the checkpoint does not fill the module:\n'
            f'{format_report(report)}'
            f'{_stem_hint(report, expected, state_dict, input)}')
    return report
