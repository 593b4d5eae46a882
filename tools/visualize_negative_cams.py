"""Draw the CAMs of an image's target class and its top negative classes.

One row per image: the input, the target CAM and the CAMs of the ``--num-neg``
highest-scoring other classes, on one colour scale (see docs/hnc.md)::

    python tools/visualize_negative_cams.py CONFIG CHECKPOINT IMG [IMG ...] \
        [--target LABEL|folder] [--num-neg 4] [--out negative_cams.png]
"""
import argparse
import os.path as osp
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

import colorssl  # noqa: F401  (registers the HNC modules)
from colorssl.models.heads.cam import class_activation_maps, to_spatial_map


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw target and top negative CAMs beside the image')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file (or "none")')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument(
        '--target',
        default=None,
        help='target class index or name, or "folder" for '
        'the name of each image\'s parent folder '
        '(default: the predicted class)')
    parser.add_argument(
        '--num-neg', type=int, default=4, help='number of negative CAMs per image')
    parser.add_argument('--out', default='negative_cams.png', help='output image file')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def load_model(config: str, checkpoint: Optional[str], device: str, cfg_options=None):
    from mmpretrain.apis import get_model
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config!r}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if checkpoint in (None, '', 'none'):
        checkpoint = None
    elif not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint!r}')
    model = get_model(cfg, pretrained=checkpoint or False, device=device)
    if not hasattr(model.head, 'fc') and not hasattr(model, 'feats_and_map'):
        raise TypeError(f'{type(model.head).__name__} has no `fc` layer: CAMs need a '
                        'linear head (HNCLinearClsHead, LinearClsHead, ...) or '
                        "model.type='HNCImageClassifier'.")
    return cfg, model


def _class_names(model, num_classes: int) -> List[str]:
    classes = (getattr(model, '_dataset_meta', None) or {}).get('classes')
    if classes and len(classes) == num_classes:
        return list(classes)
    return [str(i) for i in range(num_classes)]


def _cams_and_logits(model, inputs: torch.Tensor):
    """CAMs of all classes (K, h, w) and logits (K, ) of one image."""
    if hasattr(model, 'feats_and_map'):  # HNCImageClassifier
        feats, fmap = model.feats_and_map(inputs)
        return model.cams(feats, fmap)[0], model.head(feats)[0]
    feats = model.extract_feat(inputs, stage='backbone')
    fmap = to_spatial_map(feats, getattr(model.head, 'num_extra_tokens', 1),
                          'model.backbone output')
    cams = class_activation_maps(fmap, model.head.fc.weight, model.head.fc.bias)[0]
    return cams, cams.mean(dim=(1, 2))


@torch.no_grad()
def compute_rows(cfg, model, images, target=None, num_neg=4):
    """Per image: the display image, the classes drawn and their CAMs.

    Returns:
        list[dict]: ``image`` (H, W, 3) uint8 RGB, ``classes`` (list of
        1 + num_neg class indices, target first), ``cams`` (1 + num_neg, H, W)
        upsampled CAMs, ``logits`` and ``contrast`` for the drawn classes.
    """
    pipeline_cfg = cfg.test_dataloader.dataset.pipeline
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(pipeline_cfg)
    names = _class_names(model, model.head.num_classes)
    rows = []
    for path in images:
        if not osp.isfile(path):
            raise FileNotFoundError(f'image not found: {path!r}')
        data = pipeline(dict(img_path=path))
        batch = model.data_preprocessor(
            dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
        cams, logits = _cams_and_logits(model, batch['inputs'])  # (K, h, w), (K, )
        if target is None:
            tgt = int(logits.argmax())
        elif target == 'folder':
            folder = osp.basename(osp.dirname(osp.abspath(path)))
            if folder not in names:
                raise ValueError(
                    f'--target folder: {folder!r} (parent folder of {path}) '
                    'is not a class name of the model')
            tgt = names.index(folder)
        elif str(target).isdigit():
            tgt = int(target)
        elif target in names:
            tgt = names.index(target)
        else:
            raise ValueError(f'--target {target!r} is neither a class index '
                             f'nor one of the class names {names[:10]}...')
        if not 0 <= tgt < len(names):
            raise ValueError(f'--target {tgt} is out of range for '
                             f'{len(names)} classes')
        masked = logits.clone()
        masked[tgt] = float('-inf')
        negs = masked.topk(min(num_neg, len(names) - 1)).indices.tolist()
        chosen = [tgt] + negs
        img = data['inputs'].permute(1, 2, 0).cpu().numpy()
        if img.shape[2] == 3:
            img = img[..., ::-1]  # loaded as BGR
        sel = cams[chosen]
        up = F.interpolate(
            sel[None], size=img.shape[:2], mode='bilinear', align_corners=False)[0]
        rows.append(
            dict(
                path=path,
                image=np.ascontiguousarray(img).astype(np.uint8),
                classes=chosen,
                names=[names[c] for c in chosen],
                cams=up.cpu().numpy(),
                logits=logits[chosen].cpu().numpy(),
                contrast=(sel.flatten(1).amax(1) -
                          sel.flatten(1).mean(1)).cpu().numpy()))
    return rows


def draw(rows, out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    cols = 1 + max(len(r['classes']) for r in rows)
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(2.4 * cols, 2.6 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        ax_row[0].imshow(row['image'])
        short = osp.join(
            osp.basename(osp.dirname(row['path'])), osp.basename(row['path']))
        ax_row[0].set_title(short, fontsize=8)
        vmin, vmax = row['cams'].min(), row['cams'].max()
        for j, cls_name in enumerate(row['names']):
            ax = ax_row[j + 1]
            ax.imshow(row['image'])
            ax.imshow(row['cams'][j], cmap='jet', alpha=0.5, vmin=vmin, vmax=vmax)
            kind = 'target' if j == 0 else f'neg {j}'
            ax.set_title(
                f'{kind}: {cls_name}\nlogit {row["logits"][j]:.2f} '
                f'contrast {row["contrast"][j]:.2f}',
                fontsize=7)
        for ax in ax_row:
            ax.axis('off')
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.num_neg < 1:
        raise ValueError(f'--num-neg must be >= 1, got {args.num_neg}')
    cfg, model = load_model(args.config, args.checkpoint, args.device, args.cfg_options)
    rows = compute_rows(cfg, model, args.images, args.target, args.num_neg)
    draw(rows, args.out)
    for row in rows:
        parts = [
            f'{n} (logit {lg:.2f}, contrast {c:.2f})'
            for n, lg, c in zip(row['names'], row['logits'], row['contrast'])
        ]
        print(f'{row["path"]}: target {parts[0]}; negatives: ' + '; '.join(parts[1:]))
    print(f'saved {args.out}')


if __name__ == '__main__':
    main()
