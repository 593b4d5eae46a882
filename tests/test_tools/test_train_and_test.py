"""``tools/train.py`` then ``tools/test.py --out --show-dir`` on a tiny classifier."""
import math
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tool_helpers import (CKPT_INTERVAL, MAX_ITERS, N_VAL, REPO_ROOT, TINY_CFG,
                          checkpoints, data_options, last_checkpoint, run_dirs,
                          run_tool, train_records)


def test_train_writes_checkpoints_and_logs(trained_run):
    work_dir = trained_run['work_dir']
    expected = [
        f'iter_{i}.pth' for i in range(CKPT_INTERVAL, MAX_ITERS + 1, CKPT_INTERVAL)
    ]
    assert checkpoints(work_dir) == sorted(expected)
    assert last_checkpoint(work_dir).endswith(f'iter_{MAX_ITERS}.pth')

    (run_dir, ) = run_dirs(work_dir)
    records = train_records(run_dir)
    assert sorted(records) == list(range(1, MAX_ITERS + 1))
    assert all(math.isfinite(r['loss']) for r in records.values())
    # LinearClsHead starts from fc ~ N(0, 0.01^2): logits near 0, so the first
    # cross-entropy is near ln(2) for the two classes (|logit gap| < 0.2 keeps
    # it within 0.1 of ln 2).
    assert records[1]['loss'] == pytest.approx(math.log(2), abs=0.1)
    # MultiStepLR(milestones=[3], gamma=0.1) of the config, as logged per iteration.
    lrs = [records[i]['lr'] for i in range(1, MAX_ITERS + 1)]
    np.testing.assert_allclose(lrs, [0.05] * 3 + [0.005] * 3, rtol=1e-6)
    # The end-of-training validation ran.
    assert re.search(r'Iter\(val\).*accuracy/top1: [\d.]+', trained_run['output'])

    # Plain torch.load once colorssl is imported: torch >= 2.6 loads weights-only
    # by default, and colorssl allowlists what an mmengine checkpoint holds.
    import colorssl  # noqa: F401
    ckpt = torch.load(work_dir / f'iter_{MAX_ITERS}.pth')
    assert ckpt['meta']['iter'] == MAX_ITERS
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])
    assert 'head.fc.weight' in ckpt['state_dict']
    assert 'train/loss' in ckpt['message_hub']['log_scalars']


def _reference_scores(ckpt_path, image_paths):
    """Softmax scores of the checkpoint's model, computed here without the tools."""
    import mmcv
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules

    import colorssl  # noqa: F401  (weights-only loading of the checkpoint)

    register_all_modules(init_default_scope=False)  # mmpretrain's MODELS builds
    cfg = Config.fromfile(TINY_CFG)
    model_cfg = dict(
        cfg.model,
        data_preprocessor=dict(type='ClsDataPreprocessor', **cfg.data_preprocessor))
    model = MODELS.build(model_cfg).eval()
    load_checkpoint(model, str(ckpt_path), map_location='cpu')
    inputs = [
        torch.from_numpy(mmcv.imread(str(p))).permute(2, 0, 1)  # BGR, CHW
        for p in image_paths
    ]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=inputs), training=False)
        return model(data['inputs'], mode='tensor').softmax(dim=1)


def test_test_tool_reports_accuracy_dumps_and_draws(trained_run, image_root, tmp_path):
    ckpt = trained_run['work_dir'] / f'iter_{MAX_ITERS}.pth'
    proc = run_tool([
        sys.executable, REPO_ROOT / 'tools' / 'test.py', TINY_CFG, ckpt, '--work-dir',
        tmp_path / 'work', '--out', 'results.pkl', '--show-dir', 'show',
        *data_options(image_root)
    ],
                    cwd=tmp_path)

    reported = re.findall(r'Iter\(test\).*accuracy/top1: ([\d.]+)', proc.stdout)
    assert len(reported) == 1, proc.stdout[-3000:]

    with open(tmp_path / 'results.pkl', 'rb') as f:
        results = pickle.load(f)
    assert len(results) == N_VAL
    val_images = sorted((image_root / 'val').glob('*/*.png'))
    assert sorted(Path(r['img_path']) for r in results) == val_images

    # The reported accuracy is the one of the dumped predictions...
    correct = [int(r['pred_label']) == int(r['gt_label']) for r in results]
    assert float(reported[0]) == pytest.approx(100 * np.mean(correct), abs=1e-4)
    # ...and the predictions are the checkpoint's, not a fresh model's.
    paths = [r['img_path'] for r in results]
    scores = torch.stack([torch.as_tensor(r['pred_score']) for r in results])
    torch.testing.assert_close(
        scores, _reference_scores(ckpt, paths), rtol=1e-4, atol=1e-5)

    # --show-dir: one drawing per test image, named after it (mmpretrain's hook).
    drawn = sorted(p.name for p in (tmp_path / 'show').glob('*.png'))
    assert drawn == sorted(f'{p.name}_0.png' for p in val_images)
    from PIL import Image
    with Image.open(tmp_path / 'show' / drawn[0]) as img:
        assert min(img.size) >= 32
