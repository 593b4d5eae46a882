"""``tools/train.py --amp`` on a machine without CUDA: bfloat16 CPU autocast
(CPUAmpOptimWrapper) trains the tiny colorization and HNC configs to the end, with
finite losses close to, but not equal to, the float32 run of the same config."""
import math

import pytest
import torch
from tool_helpers import REPO_ROOT, read_scalars, run_dirs, run_tool, train_cmd

CONFIGS = REPO_ROOT / 'tests' / 'data' / 'configs'


def _losses(work_dir):
    (run_dir, ) = run_dirs(work_dir)
    return {r['iter']: r['loss'] for r in read_scalars(run_dir) if 'loss' in r}


@pytest.mark.skipif(torch.cuda.is_available(), reason='--amp uses CUDA AMP here')
@pytest.mark.parametrize(
    'config', ['tiny_colorization_imagefolder.py', 'tiny_hnc_imagefolder.py'])
def test_amp_trains_in_bfloat16_on_cpu(config, image_root, tmp_path):
    options = [
        '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={image_root}'
    ]
    runs = {}
    for amp in (False, True):
        work_dir = tmp_path / f'amp{amp}'
        proc = run_tool(
            train_cmd(
                work_dir,
                *(['--amp'] if amp else []),
                *options,
                config=CONFIGS / config),
            cwd=tmp_path)
        runs[amp] = _losses(work_dir)
    assert "type='CPUAmpOptimWrapper'" in proc.stdout  # the config the run used
    fp32, bf16 = runs[False], runs[True]
    assert sorted(bf16) == sorted(fp32) and len(bf16) >= 4
    assert all(math.isfinite(v) for v in bf16.values())
    assert bf16 != fp32  # the forward did run in bfloat16
    for it in fp32:
        assert bf16[it] == pytest.approx(fp32[it], rel=0.05), it
