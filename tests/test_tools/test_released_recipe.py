"""The in1k colornet config (the released recipe) trains through tools/train.py: the
data-dependent initialisation runs on the first batch, BatchNorm has no scale/shift,
and the loss is the released sum over pixels divided by the batch."""
import re

import numpy as np
import torch
from PIL import Image
from tool_helpers import REPO_ROOT, run_tool, train_cmd

CONFIG = (
    REPO_ROOT / 'configs' / 'colorization' / 'colorization_colornet_1xb40-450k_in1k.py')


def imagenet_layout(root, n=4, size=200):
    rng = np.random.default_rng(0)
    (root / 'meta').mkdir(parents=True)
    for split in ('train', 'val'):
        lines = []
        for i in range(n):
            name = f'n0{i % 2}/{split}_{i}.JPEG'
            (root / split / f'n0{i % 2}').mkdir(parents=True, exist_ok=True)
            img = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.uint8)
            Image.fromarray(img).resize((size, size)).save(root / split / name)
            lines.append(f'{name} {i % 2}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


def test_in1k_colornet_trains_with_data_dependent_init(tmp_path):
    root = imagenet_layout(tmp_path / 'imagenet')
    opts = [f'{d}.dataset.data_root={root}' for d in ('train_dataloader', )]
    opts += [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_iters=2',
        'default_hooks.checkpoint.interval=2', 'model.head.prior_samples=4'
    ]
    work = tmp_path / 'work'
    proc = run_tool(
        train_cmd(work, '--no-validate', '--cfg-options', *opts, config=CONFIG),
        REPO_ROOT,
        timeout=600)
    # 22 convs of the network and the head's 1x1 conv
    assert re.search(
        r"DataDependentInitHook: 23 layers of \('backbone', 'head'\) "
        r'rescaled', proc.stdout), proc.stdout[-3000:]
    state = torch.load(work / 'iter_2.pth', weights_only=True)['state_dict']
    assert 'backbone.conv1.4.running_mean' in state
    assert 'backbone.conv1.4.weight' not in state  # BatchNorm without affine
    loss = float(re.findall(r'loss: ([0-9.]+)', proc.stdout)[-1])
    # sum over the 44 x 44 output pixels / batch: about 1936 x a per-pixel loss
    assert loss > 1000, loss
