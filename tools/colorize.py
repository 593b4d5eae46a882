"""Colorize photos (black-and-white or colour) with a trained colorization model.

    python tools/colorize.py CONFIG CHECKPOINT INPUT [INPUT ...] --out-dir DIR
        [--size 256] [--temperature 0.38] [--side-by-side] [--skip-bad]
        [--device cpu|cuda] [--cfg-options k=v ...]

INPUT is an image file or a folder (searched recursively for .jpg .jpeg .png .bmp
.tif .tiff .webp). Any PIL mode is accepted: grayscale ('L', 'LA', '1'), 16-bit
grayscale ('I;16', 'I'; scaled from 0..65535), palette ('P'), 'RGBA', 'CMYK' ...;
transparency is composited onto white and EXIF orientation is applied.

As in the paper, the network sees a downscaled copy (shorter side ``--size``, both
sides multiples of 8, aspect kept) and predicts ab there; the ab prediction is
upsampled bilinearly to the ORIGINAL resolution and combined with the original
full-resolution L. Colour inputs are colorized from their L only.

Outputs are PNG files under ``--out-dir``, keeping the folder structure below each
input folder: ``<name>.png`` and, with ``--side-by-side``, ``<name>_side_by_side.png``
(gray | colorized, plus | original when the input had colour).
"""
import argparse
import copy
import os
import os.path as osp
import re
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class ToolError(Exception):
    """An error reported to the user as one line, without a traceback."""


class BadImageError(ToolError):
    """An input file that cannot be read as an image."""


class Job(NamedTuple):
    """One input image and where its results go (``out`` without extension)."""
    src: Path
    out: Path


# --------------------------------------------------------------------------- inputs
def collect_jobs(inputs: Sequence[str], out_dir: str) -> List[Job]:
    """Expand files and folders into jobs.

    Folders are searched recursively for :data:`IMAGE_EXTENSIONS` (any case); a
    file named explicitly is taken whatever its extension. Files inside ``out_dir``
    are ignored when ``out_dir`` lies below an input folder (previous results). The
    output keeps the path relative to the input folder; names that would clash get
    ``_2``, ``_3`` ... appended.

    Raises:
        ToolError: an input does not exist, or no image was found.
    """
    out_root = Path(out_dir).resolve()
    found: List[Tuple[Path, Path]] = []  # (source, output relative to out_dir)
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.append((path, Path(path.stem)))
        elif path.is_dir():
            root = path.resolve()
            skip_out = out_root != root and root in out_root.parents
            files = []
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                if skip_out and (Path(dirpath).resolve() == out_root
                                 or out_root in Path(dirpath).resolve().parents):
                    continue
                for name in sorted(filenames):
                    if name.lower().endswith(IMAGE_EXTENSIONS):
                        files.append(Path(dirpath) / name)
            if not files:
                raise ToolError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) found in '
                                f'folder {item}')
            found += [(f, f.relative_to(path).with_suffix('')) for f in files]
        else:
            raise ToolError(f'input not found: {item} (expected an image file or a '
                            'folder of images)')

    jobs, used = [], set()
    inputs_resolved = {src.resolve() for src, _ in found}
    for src, rel in found:
        out, n = rel, 1
        while str(out).lower() in used:
            n += 1
            out = rel.with_name(f'{rel.name}_{n}')
        used.add(str(out).lower())
        target = Path(out_dir) / out
        for suffix in ('.png', '_side_by_side.png'):
            if Path(str(target) + suffix).resolve() in inputs_resolved:
                raise ToolError(f'refusing to overwrite input {src} with its result: '
                                'choose another --out-dir')
        jobs.append(Job(src, target))
    return jobs


def _alpha_over_white(arr: np.ndarray) -> np.ndarray:
    """(H, W, C + 1) in [0, 1] with alpha last -> (H, W, C) composited onto white."""
    alpha = arr[..., -1:]
    return arr[..., :-1] * alpha + (1. - alpha)


def load_image(path) -> np.ndarray:
    """Read an image as float32 RGB ``(H, W, 3)`` in ``[0, 1]``.

    8-bit modes are divided by 255, 16-bit grayscale (``'I;16*'``, and ``'I'`` with
    values in 0..65535) by 65535; ``'F'`` must already lie in [0, 1]. Gray images are
    replicated to three channels; alpha is composited onto white.

    Raises:
        BadImageError: the file cannot be decoded (message names the file).
    """
    try:
        with Image.open(path) as img:
            img.load()
            try:
                img = ImageOps.exif_transpose(img)
            except Exception:  # a broken EXIF block: keep the pixels as stored
                pass
            mode = img.mode
            if mode.startswith('I;16') or mode == 'I':
                arr = np.asarray(img).astype(np.float64)
                if arr.size and (arr.min() < 0 or arr.max() > 65535):
                    raise ValueError(f'{mode} image with values outside 0..65535 '
                                     f'({arr.min():g}..{arr.max():g})')
                gray = (arr / 65535.).astype(np.float32)
                return np.repeat(gray[..., None], 3, axis=2)
            if mode == 'F':
                arr = np.asarray(img).astype(np.float32)
                if arr.size and not (np.isfinite(arr).all() and arr.min() >= 0
                                     and arr.max() <= 1):
                    raise ValueError('32-bit float image with values outside [0, 1]')
                return np.repeat(arr[..., None], 3, axis=2)
            has_alpha = 'A' in img.getbands() or 'transparency' in img.info
            if mode in ('L', '1') or (mode in ('LA', 'La') and has_alpha):
                target = 'LA' if has_alpha else 'L'
            else:
                target = 'RGBA' if has_alpha else 'RGB'
            arr = np.asarray(img.convert(target), dtype=np.float32) / 255.
    except ToolError:
        raise
    except Exception as err:  # PIL raises many types for broken files
        raise BadImageError(f'cannot read image {path}: {type(err).__name__}: '
                            f'{err}') from err
    if arr.ndim == 2:
        arr = arr[..., None]
    if target in ('LA', 'RGBA'):
        arr = _alpha_over_white(arr)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


# ---------------------------------------------------------------------- colorizing
def network_size(height: int, width: int, size: int) -> Tuple[int, int]:
    """Size the network sees: shorter side ``size``, aspect kept, multiples of 8."""
    if size <= 0 or size % 8:
        raise ToolError(f'--size must be a positive multiple of 8, got {size}')
    if height <= width:
        long = max(8, int(round(width * size / height / 8)) * 8)
        return size, long
    long = max(8, int(round(height * size / width / 8)) * 8)
    return long, size


class Result(NamedTuple):
    """Float32 RGB ``(H, W, 3)`` images in [0, 1] at the input's resolution."""
    colorized: np.ndarray
    gray: np.ndarray
    has_color: bool


@torch.no_grad()
def colorize_rgb(model,
                 rgb: np.ndarray,
                 size: int,
                 temperature: float,
                 device: str = 'cpu') -> Result:
    """Colorize one image given as float RGB ``(H, W, 3)`` in [0, 1].

    The network gets an antialiased uint8 copy of shape ``(1, 3, h, w)`` from
    :func:`network_size`; its ab ``(1, 2, h, w)`` is resized bilinearly to
    ``(H, W)`` and joined to the full-resolution L.
    """
    from colorssl.color import lab_to_rgb, rgb_to_lab

    height, width = rgb.shape[:2]
    full = torch.from_numpy(rgb).to(device).permute(2, 0, 1)[None].float()
    lab = rgb_to_lab(full)
    light = lab[:, :1]

    h, w = network_size(height, width, size)
    small = full
    if (h, w) != (height, width):
        small = F.interpolate(
            full,
            size=(h, w),
            mode='bilinear',
            align_corners=False,
            antialias=h < height)
    small = (small.clamp(0, 1) * 255).round().to(torch.uint8)
    preprocessor = getattr(model, 'data_preprocessor', None)
    if getattr(preprocessor, 'channel_order', 'rgb') == 'bgr':
        small = small.flip(1)
    ab = model.colorize(small, temperature=temperature)
    if tuple(ab.shape) != (1, 2, h, w):
        raise RuntimeError(f'model.colorize returned shape {tuple(ab.shape)}, '
                           f'expected (1, 2, {h}, {w})')
    ab = F.interpolate(
        ab.float(), size=(height, width), mode='bilinear', align_corners=False)
    colorized = lab_to_rgb(torch.cat([light, ab], dim=1), clip=True)
    gray = lab_to_rgb(torch.cat([light, torch.zeros_like(ab)], dim=1), clip=True)
    thresh = float(getattr(preprocessor, 'gray_thresh', 5.))
    has_color = bool((lab[:, 1:].abs() > thresh).any())

    def to_numpy(x):
        return x[0].permute(1, 2, 0).cpu().numpy()

    return Result(to_numpy(colorized), to_numpy(gray), has_color)


def to_uint8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def save_results(job: Job, result: Result, original: np.ndarray,
                 side_by_side: bool) -> List[Path]:
    """Write ``<out>.png`` (and ``<out>_side_by_side.png``); return the paths."""
    job.out.parent.mkdir(parents=True, exist_ok=True)
    written = [Path(str(job.out) + '.png')]
    Image.fromarray(to_uint8(result.colorized)).save(written[0])
    if side_by_side:
        panels = [result.gray, result.colorized]
        if result.has_color:
            panels.append(original)
        written.append(Path(str(job.out) + '_side_by_side.png'))
        Image.fromarray(to_uint8(np.concatenate(panels, axis=1))).save(written[1])
    return written


# ------------------------------------------------------------------------- model
def load_model(config: str,
               checkpoint: str,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None):
    """Build the model of ``config`` as the runner does (a top-level
    ``data_preprocessor`` goes into the model), load ``checkpoint``, move it to
    ``device`` and set eval mode.

    Returns:
        tuple: ``(cfg, model)``.

    Raises:
        ToolError: missing config or checkpoint, or a checkpoint that lacks
            parameters of the model (it belongs to another config).
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS

    import colorssl  # noqa: F401  (registers modules, safe checkpoint loading)
    from colorssl.utils.config_checks import load_config, registry_errors_named

    try:
        cfg = load_config(config, cfg_options)
    except FileNotFoundError as err:
        raise ToolError(str(err)) from err
    if not osp.isfile(checkpoint):
        raise ToolError(f'checkpoint not found: {checkpoint}')
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner.build_model
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    with registry_errors_named(config):
        model = MODELS.build(model_cfg)
    ckpt = load_checkpoint(
        model, checkpoint, map_location='cpu', strict=False, logger='silent')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    state = {re.sub(r'^module\.', '', k) for k in state}
    missing = [k for k, _ in model.named_parameters() if k not in state]
    if missing:
        raise ToolError(
            f'checkpoint {checkpoint} does not fit {config}: {len(missing)} parameters '
            f'missing, e.g. {missing[:3]} (a checkpoint from another config?)')
    return cfg, model.to(device).eval()


def build_model(config: str,
                checkpoint: str,
                device: str = 'cpu',
                cfg_options: Optional[dict] = None):
    """:func:`load_model` for a colorization model (one with ``colorize``).

    Raises:
        ToolError: as :func:`load_model`, or a model without ``colorize``.
    """
    cfg, model = load_model(config, checkpoint, device, cfg_options)
    if not callable(getattr(model, 'colorize', None)):
        raise ToolError(f'{config}: model type {cfg.model.get("type")!r} has no '
                        "colorize(); use a config whose model is type='Colorization'")
    return model


# -------------------------------------------------------------------------- main
def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Colorize images with a colorization checkpoint (colorssl)')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('inputs', nargs='+', help='image files and/or folders')
    parser.add_argument('--out-dir', required=True, help='folder for the results')
    parser.add_argument(
        '--size',
        type=int,
        default=256,
        help='shorter side the network sees, a multiple of 8 '
        '(default 256)')
    parser.add_argument(
        '--temperature',
        type=float,
        default=0.38,
        help='annealed-mean temperature: 1 = mean (desaturated), '
        'towards 0 = mode (vivid); default 0.38 (the paper)')
    parser.add_argument(
        '--side-by-side',
        action='store_true',
        help='also write gray | colorized (| original if colour)')
    parser.add_argument(
        '--skip-bad',
        action='store_true',
        help='skip unreadable images and list them at the end '
        'instead of stopping at the first')
    parser.add_argument(
        '--device', default='cpu', help="'cpu' or 'cuda' (or 'cuda:N'); default cpu")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs')
    return parser.parse_args(argv)


def check_args(args) -> None:
    network_size(8, 8, args.size)  # validates --size
    if not args.temperature > 0:
        raise ToolError(f'--temperature must be > 0, got {args.temperature}')
    if not re.fullmatch(r'cpu|cuda(:\d+)?', args.device):
        raise ToolError(f"--device must be 'cpu', 'cuda' or 'cuda:N', got "
                        f'{args.device!r}')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise ToolError(f'--device {args.device}: CUDA is not available here; use '
                        '--device cpu')


def run(args) -> Dict[str, list]:
    """Colorize every input; return ``dict(written=[...], skipped=[(path, msg)])``."""
    check_args(args)
    jobs = collect_jobs(args.inputs, args.out_dir)
    model = build_model(args.config, args.checkpoint, args.device, args.cfg_options)
    written, skipped = [], []
    for job in jobs:
        try:
            rgb = load_image(job.src)
        except BadImageError as err:
            if not args.skip_bad:
                raise BadImageError(f'{err} (use --skip-bad to skip such files)') \
                    from err
            skipped.append((str(job.src), str(err)))
            print(f'skipped {job.src}', flush=True)
            continue
        result = colorize_rgb(model, rgb, args.size, args.temperature, args.device)
        paths = save_results(job, result, rgb, args.side_by_side)
        written += paths
        print(f'{job.src} -> {paths[0]}', flush=True)
    return dict(written=written, skipped=skipped)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except ToolError as err:
        print(f'colorize.py: error: {err}', file=sys.stderr)
        return 1
    num_images = sum(1 for p in report['written']
                     if not str(p).endswith('_side_by_side.png'))
    print(f'colorized {num_images} image(s) into {args.out_dir}')
    if report['skipped']:
        print(f'skipped {len(report["skipped"])} unreadable file(s):')
        for path, msg in report['skipped']:
            print(f'  {msg}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
