"""Every transfer config, end to end through tools/train.py, for a few iterations on
tiny data on CPU (the configs unchanged except data roots, sizes and iterations via
--cfg-options).

The ImageNet / VOC / COCO configs run on tiny data sets written here in the stock
layouts; the small real-data configs run on a few images of ../shared/data (skipped
when it is absent, failed when CI=true). mmdet and mmseg configs need those packages
(the full environment of tools/setup_env.sh); without them they are skipped (failed
when CI=true).
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from transfer_helpers import REPO_ROOT

BENCH = REPO_ROOT / 'configs' / 'benchmarks'


# ----------------------------------------------------------------------------------
# checkpoints: real Colorization models built from the pretraining configs, saved as
# mmengine's CheckpointHook does (state_dict + meta['cfg'] = the config text)
# ----------------------------------------------------------------------------------
def save_colorization_model(config, path, **overrides):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import colorssl  # noqa: F401
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'colorization' / config))
    cfg.merge_from_dict(overrides)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save({
        'state_dict': model.state_dict(),
        'meta': {
            'cfg': cfg.pretty_text
        }
    }, str(path))
    return str(path)


@pytest.fixture(scope='session')
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpts')
    cache = {}

    def get(name):
        if name not in cache:
            config = {
                'r50': 'colorization_resnet50_8xb32-200k_in1k.py',
                'colornet': 'colorization_colornet_1xb40-450k_in1k.py',
                'colornet-c16': 'colorization_colornet-c16_1xb32-2k_cifar10mini.py',
                'r18': 'colorization_resnet18-w32_1xb16-1.5k_camvidmini-raccoon.py',
            }[name]
            # the colour prior only sets non-persistent buffers of the head
            cache[name] = save_colorization_model(config, root / f'{name}.pth',
                                                  **{'model.head.prior': None})
        return cache[name]

    return get


# ----------------------------------------------------------------------------------
# tiny data sets in the stock layouts
# ----------------------------------------------------------------------------------
def _write_jpg(path, rng, size=(64, 48)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)).save(
        path, quality=95)


@pytest.fixture(scope='session')
def tiny_imagenet(tmp_path_factory):
    """data_root/{train,val}/*.JPEG with meta/{train,val}.txt (mmpretrain ImageNet)."""
    root = tmp_path_factory.mktemp('imagenet')
    rng = np.random.default_rng(0)
    os.makedirs(root / 'meta')
    for split in ('train', 'val'):
        lines = []
        for i in range(4):
            name = f'n0{i % 2}/{split}_{i}.JPEG'
            _write_jpg(str(root / split / name), rng)
            lines.append(f'{name} {i % 2}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return str(root)


# ----------------------------------------------------------------------------------
# running tools/train.py
# ----------------------------------------------------------------------------------
def loader_options(*loaders, batch_size=2):
    opts = []
    for loader in loaders:
        opts += [
            f'{loader}.batch_size={batch_size}', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    return opts


def run_train(config, work_dir, options, timeout=600):
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT),
                                    os.environ.get('PYTHONPATH', '')]),
        OMP_NUM_THREADS='2')
    cmd = [
        sys.executable,
        str(REPO_ROOT / 'tools' / 'train.py'),
        str(config), '--work-dir',
        str(work_dir), '--cfg-options', *options
    ]
    proc = subprocess.run(
        cmd,
        cwd=str(REPO_ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout)
    out = proc.stdout
    assert proc.returncode == 0, f'{" ".join(cmd)}\n{out[-6000:]}'
    return out


def assert_loaded_all(out):
    """The ColorizationPretrained init reported every backbone key loaded."""
    loads = re.findall(r'ColorizationPretrained: loaded (\d+)/(\d+) keys', out)
    assert loads, 'no ColorizationPretrained report in the log'
    for got, total in loads:
        assert got == total


def saved_state(work_dir):
    ckpts = [f for f in os.listdir(work_dir) if f.endswith('.pth')]
    assert ckpts, f'no checkpoint in {work_dir}'
    return torch.load(
        osp.join(work_dir,
                 sorted(ckpts)[-1]), map_location='cpu')['state_dict']


# ----------------------------------------------------------------------------------
# mmpretrain
# ----------------------------------------------------------------------------------
IMAGENET_EPOCH = [
    'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1'
]


def imagenet_size_options(first):
    """64-pixel crops instead of 224 (``first``: index of the crop in the train
    pipeline, of ResizeEdge in the test pipeline)."""
    return [
        f'train_dataloader.dataset.pipeline.{first}.scale=64',
        f'val_dataloader.dataset.pipeline.{first}.scale=73',
        f'val_dataloader.dataset.pipeline.{first + 1}.crop_size=64'
    ]


def test_resnet50_linear_probe_in1k(tiny_imagenet, ckpts, tmp_path):
    from colorssl.models.transfer import (convert_colorization_backbone,
                                          load_colorization_checkpoint)
    ckpt = ckpts('r50')
    out = run_train(
        BENCH / 'mmpretrain' /
        'resnet50_colorization-pre_8xb32-linear-steplr-100e_in1k.py', tmp_path, [
            f'model.backbone.init_cfg.checkpoint={ckpt}',
            f'train_dataloader.dataset.data_root={tiny_imagenet}',
            f'val_dataloader.dataset.data_root={tiny_imagenet}',
            *loader_options('train_dataloader', 'val_dataloader'),
            *imagenet_size_options(1), *IMAGENET_EPOCH
        ])
    assert_loaded_all(out)
    assert 'accuracy/top1' in out
    # the probe is linear: the frozen backbone leaves training as it came in
    expected, _ = convert_colorization_backbone(
        load_colorization_checkpoint(ckpt), 'rgb')
    state = saved_state(tmp_path)
    for key, value in expected.items():
        torch.testing.assert_close(state['backbone.' + key], value, msg=key)


def test_colornet_multilayer_probe_in1k(tiny_imagenet, ckpts, tmp_path):
    ckpt = ckpts('colornet')
    out = run_train(
        BENCH / 'mmpretrain' /
        'colornet_colorization-pre_8xb32-linear-multilayer-steplr-90e_in1k.py',
        tmp_path, [
            f'model.backbone.init_cfg.checkpoint={ckpt}',
            f'train_dataloader.dataset.data_root={tiny_imagenet}',
            f'val_dataloader.dataset.data_root={tiny_imagenet}',
            *loader_options('train_dataloader', 'val_dataloader'),
            *imagenet_size_options(2), *IMAGENET_EPOCH
        ])
    assert_loaded_all(out)
    for layer in ('conv1', 'conv5'):
        assert f'probe/{layer}/top1' in out and f'loss_{layer}' in out
    state = saved_state(tmp_path)
    source = torch.load(ckpt)['state_dict']
    for key in ('conv2.0.weight', 'conv5.6.running_mean'):
        torch.testing.assert_close(state['backbone.' + key], source['backbone.' + key])


CIFAR_SHRINK = [
    'train_dataloader.dataset.indices=4', 'val_dataloader.dataset.indices=4',
    'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1000',
    'default_hooks.checkpoint.save_last=False'
]


@pytest.mark.parametrize('config,pretrained', [
    ('colornet-c16_colorization-pre_1xb64-linear-multilayer-6e_cifar10mini.py', True),
    ('colornet-c16_colorization-pre-rgb_1xb64-linear-multilayer-6e_cifar10mini.py',
     True),
    ('colornet-c16_random-init_1xb64-linear-multilayer-6e_cifar10mini.py', False),
])
def test_cifar10mini_probes(config, pretrained, ckpts, tmp_path, shared_data):
    shared_data('cifar10-mini')
    options = [*loader_options('train_dataloader', 'val_dataloader'), *CIFAR_SHRINK]
    if pretrained:
        options.append(f"model.backbone.init_cfg.checkpoint={ckpts('colornet-c16')}")
    out = run_train(BENCH / 'mmpretrain' / config, tmp_path, options)
    if pretrained:
        assert_loaded_all(out)
    else:
        assert 'ColorizationPretrained' not in out
    assert 'probe/conv5/top1' in out


# ----------------------------------------------------------------------------------
# mmdet / mmseg tiny data
# ----------------------------------------------------------------------------------
VOC_XML = """<annotation><size><width>{w}</width><height>{h}</height><depth>3</depth>
</size>{objects}</annotation>"""
VOC_OBJ = """<object><name>{name}</name><difficult>0</difficult><bndbox>
<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>
</bndbox></object>"""


def write_voc_detection(root, year, splits, classes, rng, size=(160, 128)):
    base = osp.join(root, f'VOC{year}')
    os.makedirs(osp.join(base, 'Annotations'), exist_ok=True)
    os.makedirs(osp.join(base, 'ImageSets', 'Main'), exist_ok=True)
    for split, count in splits.items():
        ids = [f'{year}_{split}_{i}' for i in range(count)]
        for i, img_id in enumerate(ids):
            _write_jpg(osp.join(base, 'JPEGImages', img_id + '.jpg'), rng, size)
            obj = VOC_OBJ.format(
                name=classes[i % len(classes)], x1=10 + i, y1=12, x2=90 + i, y2=100)
            with open(osp.join(base, 'Annotations', img_id + '.xml'), 'w') as f:
                f.write(VOC_XML.format(w=size[0], h=size[1], objects=obj))
        with open(osp.join(base, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')


@pytest.fixture(scope='session')
def tiny_voc0712(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('VOCdevkit'))
    rng = np.random.default_rng(1)
    write_voc_detection(root, 2007, {'trainval': 2, 'test': 2}, ['dog', 'cat'], rng)
    write_voc_detection(root, 2012, {'trainval': 2}, ['car', 'dog'], rng)
    return root


@pytest.fixture(scope='session')
def tiny_coco(tmp_path_factory, need_package):
    need_package('mmdet')
    from mmdet.datasets import CocoDataset
    root = tmp_path_factory.mktemp('coco')
    rng = np.random.default_rng(2)
    os.makedirs(root / 'annotations')
    # all 80 categories: the metric maps every predicted label to a category id
    cats = [
        dict(id=i + 1, name=name)
        for i, name in enumerate(CocoDataset.METAINFO['classes'])
    ]
    for split in ('train2017', 'val2017'):
        images, anns = [], []
        for i in range(2):
            _write_jpg(str(root / split / f'{i}.jpg'), rng, (160, 128))
            images.append(dict(id=i + 1, file_name=f'{i}.jpg', width=160, height=128))
            x, y, w, h = 20. + i, 16., 70., 60.
            anns.append(
                dict(
                    id=i + 1,
                    image_id=i + 1,
                    category_id=1 + i % 2,
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0,
                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
        with open(root / 'annotations' / f'instances_{split}.json', 'w') as f:
            json.dump(dict(images=images, annotations=anns, categories=cats), f)
    return str(root)


@pytest.fixture(scope='session')
def tiny_voc12aug(tmp_path_factory):
    root = tmp_path_factory.mktemp('VOC2012')
    rng = np.random.default_rng(3)
    for sub in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
                'ImageSets/Segmentation'):
        os.makedirs(root / sub)
    lists = {'train': ['s0', 's1'], 'aug': ['a0', 'a1'], 'val': ['s2']}
    for split, ids in lists.items():
        for img_id in ids:
            _write_jpg(str(root / 'JPEGImages' / f'{img_id}.jpg'), rng, (96, 80))
            label = rng.integers(0, 21, (80, 96)).astype(np.uint8)
            label[:4] = 255
            folder = 'SegmentationClassAug' if split == 'aug' else 'SegmentationClass'
            Image.fromarray(label).save(root / folder / f'{img_id}.png')
        (root / 'ImageSets' / 'Segmentation' /
         f'{split}.txt').write_text('\n'.join(ids) + '\n')
    return str(root)


NO_CHECKPOINT = [
    'default_hooks.checkpoint.interval=1000', 'default_hooks.checkpoint.save_last=False'
]
ITER_SHRINK = [
    'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
    'default_hooks.logger.interval=1', *NO_CHECKPOINT
]
# fewer proposals and RoIs than the stock detectors (CPU)
RCNN_SHRINK = [
    'model.train_cfg.rpn_proposal.nms_pre=200',
    'model.train_cfg.rpn_proposal.max_per_img=32',
    'model.train_cfg.rcnn.sampler.num=16', 'model.test_cfg.rpn.nms_pre=200',
    'model.test_cfg.rpn.max_per_img=16'
]


def test_faster_rcnn_c4_voc0712(tiny_voc0712, ckpts, tmp_path, need_package):
    need_package('mmdet')
    ckpt = ckpts('r50')
    options = [
        f'model.backbone.init_cfg.checkpoint={ckpt}',
        f'model.roi_head.shared_head.init_cfg.checkpoint={ckpt}',
        *loader_options('train_dataloader', 'val_dataloader', batch_size=1),
        *ITER_SHRINK, *RCNN_SHRINK, 'val_dataloader.dataset.pipeline.1.scale=(160,128)'
    ]
    for i in (0, 1):
        options += [
            f'train_dataloader.dataset.datasets.{i}.data_root={tiny_voc0712}/',
            f'train_dataloader.dataset.datasets.{i}.pipeline.2.scales='
            '[(160,128)]'
        ]
    options.append(f'val_dataloader.dataset.data_root={tiny_voc0712}/')
    out = run_train(
        BENCH / 'mmdetection' /
        'faster-rcnn_r50-c4_colorization-pre_8xb2-ms-18k_voc0712.py', tmp_path, options)
    assert_loaded_all(out)
    # backbone (stages 1-3) and the res5 RoI head each loaded their part
    assert re.search(r'loaded \d+/\d+ keys of ResNet', out)
    assert re.search(r'loaded \d+/\d+ keys of ResLayer', out)
    assert 'pascal_voc/mAP' in out


def test_mask_rcnn_fpn_coco(tiny_coco, ckpts, tmp_path, need_package):
    need_package('mmdet')
    options = [
        f"model.backbone.init_cfg.checkpoint={ckpts('r50')}",
        f'train_dataloader.dataset.data_root={tiny_coco}/',
        f'val_dataloader.dataset.data_root={tiny_coco}/',
        f'val_evaluator.ann_file={tiny_coco}/annotations/instances_val2017.json',
        *loader_options('train_dataloader', 'val_dataloader', batch_size=1),
        'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        *NO_CHECKPOINT,
        *RCNN_SHRINK,
        'model.test_cfg.rcnn.max_per_img=10',
        'model.test_cfg.rcnn.score_thr=0.0',  # an untrained model: keep boxes
        'train_dataloader.dataset.pipeline.2.scale=(160,128)',
        'val_dataloader.dataset.pipeline.1.scale=(160,128)'
    ]
    out = run_train(
        BENCH / 'mmdetection' /
        'mask-rcnn_r50_fpn_colorization-pre_8xb2-syncbn-12e_coco.py', tmp_path, options)
    assert_loaded_all(out)
    assert 'coco/segm_mAP' in out


@pytest.mark.parametrize('config,ckpt', [
    ('fcn_r50-d8_colorization-pre_4xb4-20k_voc12aug-512x512.py', 'r50'),
    ('fcn_colornet_colorization-pre_4xb4-20k_voc12aug-512x512.py', 'colornet'),
])
def test_fcn_voc12aug(config, ckpt, tiny_voc12aug, ckpts, tmp_path, need_package):
    need_package('mmseg')
    options = [
        f'model.backbone.init_cfg.checkpoint={ckpts(ckpt)}',
        'model.data_preprocessor.size=(64,64)',
        *loader_options('train_dataloader', 'val_dataloader', batch_size=2),
        *ITER_SHRINK, f'val_dataloader.dataset.data_root={tiny_voc12aug}',
        'val_dataloader.dataset.pipeline.1.scale=(96,80)'
    ]
    for i in (0, 1):
        options += [
            f'train_dataloader.dataset.datasets.{i}.data_root={tiny_voc12aug}',
            f'train_dataloader.dataset.datasets.{i}.pipeline.2.scale=(96,80)',
            f'train_dataloader.dataset.datasets.{i}.pipeline.3.crop_size='
            '(64,64)', f'train_dataloader.dataset.datasets.{i}.pipeline.6.size=(64,64)'
        ]
    out = run_train(BENCH / 'mmsegmentation' / config, tmp_path, options)
    assert_loaded_all(out)
    assert 'mIoU' in out


# ----------------------------------------------------------------------------------
# small real-data detection / segmentation (a few images of ../shared/data)
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize('config,pretrained', [
    ('faster-rcnn_r18-w32_fpn_colorization-pre_1xb2-0.8k_raccoon.py', True),
    ('faster-rcnn_r18-w32_fpn_random-init_1xb2-0.8k_raccoon.py', False),
])
def test_raccoon_detection(config, pretrained, ckpts, tmp_path, need_package,
                           shared_data):
    need_package('mmdet')
    shared_data('raccoon-voc')
    options = [
        *loader_options('train_dataloader', 'val_dataloader', batch_size=2),
        *ITER_SHRINK, *RCNN_SHRINK, 'train_dataloader.dataset.indices=2',
        'val_dataloader.dataset.indices=2'
    ]
    if pretrained:
        options.append(f"model.backbone.init_cfg.checkpoint={ckpts('r18')}")
    out = run_train(BENCH / 'mmdetection' / config, tmp_path, options)
    if pretrained:
        assert_loaded_all(out)
    assert 'pascal_voc/mAP' in out


@pytest.mark.parametrize('config,pretrained', [
    ('fcn_r18-w32-d16_colorization-pre_1xb4-0.8k_camvidmini-192x192.py', True),
    ('fcn_r18-w32-d16_random-init_1xb4-0.8k_camvidmini-192x192.py', False),
])
def test_camvid_segmentation(config, pretrained, ckpts, tmp_path, need_package,
                             shared_data):
    need_package('mmseg')
    shared_data('camvid-mini')
    options = [
        *loader_options('train_dataloader', 'val_dataloader', batch_size=2),
        *ITER_SHRINK, 'train_dataloader.dataset.indices=2',
        'val_dataloader.dataset.indices=2'
    ]
    if pretrained:
        options.append(f"model.backbone.init_cfg.checkpoint={ckpts('r18')}")
    out = run_train(BENCH / 'mmsegmentation' / config, tmp_path, options)
    if pretrained:
        assert_loaded_all(out)
    assert 'mIoU' in out


def test_converted_checkpoint_with_stock_pretrained_and_check_hook(
        ckpts, tmp_path, shared_data):
    """The converter's output through mmengine's own ``type='Pretrained'`` init, with
    ``PretrainedCheckHook`` failing the run when the backbone cannot take it."""
    shared_data('cifar10-mini')
    from transfer_helpers import load_converter
    converted = str(tmp_path / 'c16_gray.pth')
    assert load_converter().main([
        ckpts('colornet-c16'), converted, '--input', 'gray', '--mean', '127.5', '--std',
        '2.55'
    ]) == 0
    base = (
        BENCH / 'mmpretrain' /
        'colornet-c16_colorization-pre_1xb64-linear-multilayer-6e_cifar10mini.py')
    config = tmp_path / 'stock_pretrained.py'
    config.write_text(
        f'_base_ = {str(base)!r}\n'
        'model = dict(backbone=dict(init_cfg=dict(_delete_=True, type="Pretrained", '
        f'checkpoint={converted!r}, prefix="backbone.")))\n'
        'custom_hooks = [dict(type="PretrainedCheckHook")]\n')
    options = [*loader_options('train_dataloader', 'val_dataloader'), *CIFAR_SHRINK]
    out = run_train(config, tmp_path / 'ok', options)
    assert re.search(
        r'PretrainedCheck: .* -> backbone \(ColorizationNet\): all keys '
        'match', out)
    # an RGB-shaped stem cannot take the 1-channel gray weights: the run stops
    with pytest.raises(
            AssertionError,
            match=r'(?s)CheckpointMismatchError.*'
            r'conv1.0.weight \(16, 1, 3, 3\) vs \(16, 3, 3, 3\)'):
        run_train(config, tmp_path / 'bad', options + ['model.backbone.in_channels=3'])
