"""Draw one picture of colorized photos: a row per photo, gray | ours | original.

    python tools/demo_grid.py ORIGINALS COLORIZED --out grid.png [--height 300]

ORIGINALS is a folder of colour photos; COLORIZED the ``--out-dir`` of
``tools/colorize.py`` run on that folder (``<name>.png`` for each ``<name>.*``).
The gray panel is the photo's CIE L alone (a = b = 0), what the network sees.
Every row is scaled to the same height (never above the smallest photo's height,
so no photo is enlarged); rows are padded with white to the widest one.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
COLUMNS = ('gray', 'ours', 'original')
GAP = 4  # white pixels between panels and rows


def gray_of(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` -> its CIE L shown as gray, uint8 ``(H, W, 3)``."""
    from colorssl.color import lab_to_rgb, rgb_to_lab
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255.
    lab = rgb_to_lab(x)
    lab[:, 1:] = 0
    gray = lab_to_rgb(lab, clip=True)[0].permute(1, 2, 0).numpy()
    return (gray * 255 + 0.5).astype(np.uint8)


def find_pairs(originals: str, colorized: str) -> List[tuple]:
    """``(name, original path, colorized path)`` for each photo in ``originals``."""
    if not osp.isdir(originals):
        raise FileNotFoundError(f'no folder of original photos: {originals}')
    pairs = []
    for name in sorted(os.listdir(originals)):
        stem, ext = osp.splitext(name)
        if ext.lower() not in IMAGE_EXTENSIONS:
            continue
        result = osp.join(colorized, stem + '.png')
        if not osp.isfile(result):
            raise FileNotFoundError(
                f'no colorized result {result} for {osp.join(originals, name)} '
                '(run tools/colorize.py on the originals folder with --out-dir '
                f'{colorized})')
        pairs.append((stem, osp.join(originals, name), result))
    if not pairs:
        raise FileNotFoundError(f'no photos ({", ".join(IMAGE_EXTENSIONS)}) in '
                                f'{originals}')
    return pairs


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def draw_grid(pairs, height: int) -> Image.Image:
    rows = []
    for name, original_path, result_path in pairs:
        original = np.asarray(Image.open(original_path).convert('RGB'))
        ours = Image.open(result_path).convert('RGB')
        if ours.size != (original.shape[1], original.shape[0]):
            raise ValueError(f'{result_path} is {ours.size[0]}x{ours.size[1]}, its '
                             f'original {original_path} {original.shape[1]}x'
                             f'{original.shape[0]}: not a result of that photo')
        panels = [Image.fromarray(gray_of(original)), ours, Image.fromarray(original)]
        rows.append(panels)
    height = min([height] + [row[2].size[1] for row in rows])
    scaled = []
    for panels in rows:
        w, h = panels[0].size
        size = (max(1, round(w * height / h)), height)
        scaled.append(
            [p.resize(size, Image.LANCZOS) if p.size != size else p for p in panels])
    label_h = max(16, height // 12)
    width = max(3 * row[0].size[0] + 2 * GAP for row in scaled)
    total_h = label_h + GAP + len(scaled) * (height + GAP) - GAP
    canvas = Image.new('RGB', (width, total_h), 'white')
    draw = ImageDraw.Draw(canvas)
    font = _font(label_h - 4)
    cell_w = scaled[0][0].size[0]
    for i, title in enumerate(COLUMNS):
        draw.text((i * (cell_w + GAP) + 4, 2), title, fill='black', font=font)
    y = label_h + GAP
    for panels in scaled:
        x = 0
        for p in panels:
            canvas.paste(p, (x, y))
            x += p.size[0] + GAP
        y += height + GAP
    return canvas


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('originals', help='folder of the original colour photos')
    parser.add_argument('colorized', help='--out-dir of tools/colorize.py')
    parser.add_argument('--out', required=True, help='the grid picture (.png)')
    parser.add_argument(
        '--height',
        type=int,
        default=300,
        help='height of each row in pixels (at most the smallest '
        'photo height)')
    args = parser.parse_args(argv)
    try:
        grid = draw_grid(find_pairs(args.originals, args.colorized), args.height)
    except (FileNotFoundError, ValueError) as err:
        print(f'demo_grid.py: error: {err}', file=sys.stderr)
        return 1
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    grid.save(args.out)
    print(f'gray | ours | original: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
