"""Colorize photos (black-and-white or colour) with a trained colorization model.

    python tools/colorize.py CONFIG CHECKPOINT INPUT [INPUT ...] --out-dir DIR
        [--size 256] [--temperature 0.38] [--batch-size 1] [--side-by-side]
        [--skip-bad] [--device cpu|cuda] [--cfg-options k=v ...]

The command line of :class:`colorssl.apis.ColorizationInferencer` (see it for the
sizes, the inputs and the files written under ``--out-dir``). Images are read as in
training (``colorssl.datasets.transforms.loading.read_rgb``). An unreadable file stops
the run, naming it; with ``--skip-bad`` each is named and all are listed at the end.
"""
import argparse
import contextlib
import re
import sys

import torch

from colorssl.apis import ColorizationInferencer
from colorssl.apis import load_model as _load_model
from colorssl.datasets.transforms.loading import BadImageError


class ToolError(Exception):
    """An error reported to the user as one line, without a traceback."""


@contextlib.contextmanager
def tool_errors():
    """Missing files, wrong checkpoints and bad arguments -> :class:`ToolError`."""
    try:
        yield
    except (FileNotFoundError, ValueError) as err:
        raise ToolError(str(err).replace('out_dir', '--out-dir')) from err


def load_model(config: str, checkpoint: str, device: str = 'cpu', cfg_options=None):
    """:func:`colorssl.apis.load_model` (any model): ``(cfg, model)``."""
    with tool_errors():
        return _load_model(config, checkpoint, device, cfg_options)


def build_model(config: str, checkpoint: str, device: str = 'cpu', cfg_options=None):
    """The model (with ``colorize``) of a :class:`ColorizationInferencer`."""
    with tool_errors():
        return ColorizationInferencer(
            config, checkpoint, device, cfg_options=cfg_options).model


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Colorize images with a colorization checkpoint (colorssl)')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('inputs', nargs='+', help='image files and/or folders')
    parser.add_argument('--out-dir', required=True, help='folder for the results')
    parser.add_argument(
        '--size', type=int, default=256, help='shorter side the network sees (256)')
    parser.add_argument(
        '--temperature',
        type=float,
        default=0.38,
        help='annealed-mean temperature: 1 = mean (desaturated), '
        'towards 0 = mode (vivid); default 0.38 (the paper)')
    parser.add_argument('--batch-size', type=int, default=1, help='default 1')
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
    if not args.temperature > 0:
        raise ToolError(f'--temperature must be > 0, got {args.temperature}')
    if not re.fullmatch(r'cpu|cuda(:\d+)?', args.device):
        raise ToolError(f"--device must be 'cpu', 'cuda' or 'cuda:N', got "
                        f'{args.device!r}')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise ToolError(f'--device {args.device}: CUDA is not available here; use '
                        '--device cpu')


def run(args) -> dict:
    """Colorize every input; return the inferencer's ``dict(predictions, skipped)``."""
    check_args(args)
    with tool_errors():  # also checks --size and --batch-size
        inferencer = ColorizationInferencer(
            args.config,
            args.checkpoint,
            args.device,
            size=args.size,
            temperature=args.temperature,
            cfg_options=args.cfg_options)
        return inferencer(
            args.inputs,
            batch_size=args.batch_size,
            out_dir=args.out_dir,
            side_by_side=args.side_by_side,
            on_error='skip' if args.skip_bad else 'raise',
            return_arrays=False)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except BadImageError as err:
        err = f'{err} (use --skip-bad to skip such files)'
        print(f'colorize.py: error: {err}', file=sys.stderr)
        return 1
    except ToolError as err:
        print(f'colorize.py: error: {err}', file=sys.stderr)
        return 1
    print(f'colorized {len(report["predictions"])} image(s) into {args.out_dir}')
    if report['skipped']:
        print(f'skipped {len(report["skipped"])} unreadable file(s):')
        for _, msg in report['skipped']:
            print(f'  {msg}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
