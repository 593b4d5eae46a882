"""``tools/dist_train.sh CONFIG 2``: two torchrun processes on CPU (gloo).

Distributed tests (each starts torchrun with 2 CPU processes). The configs import the
test plugin tests/data/plugins/cpu_dist.py, which starts the gloo group that mmengine
0.10.7 would start only on GPUs, and name DDP without device ids.
"""
import json
import re
import sys

import numpy as np
import pytest
import torch
from tool_helpers import (CKPT_INTERVAL, MAX_ITERS, N_VAL, REPO_ROOT, TINY_CFG,
                          checkpoints, cpu_dist_config, cpu_dist_env, data_options,
                          free_port, last_checkpoint, run_dirs, run_tool, train_records)

import colorssl  # noqa: F401  (weights-only loading of mmengine checkpoints)

VAL_BATCH = 4  # val_dataloader.batch_size in TINY_CFG


def test_dist_train_two_cpu_processes(image_root, tmp_path):
    work_dir = tmp_path / 'work'
    config = cpu_dist_config(TINY_CFG, tmp_path)
    env = cpu_dist_env()
    env.update(PYTHON=sys.executable, PORT=str(free_port()))
    proc = run_tool([
        'bash', REPO_ROOT / 'tools' / 'dist_train.sh', config, '2', '--work-dir',
        work_dir, *data_options(image_root)
    ],
                    cwd=tmp_path,
                    env=env)
    out = proc.stdout

    # Rank 0's environment report: a distributed run over a world of 2.
    assert re.search(r'Distributed launcher: pytorch', out)
    assert re.search(r'Distributed training: True', out)
    assert re.search(r'GPU number: 2\b', out)  # mmengine's name for the world size
    (run_dir, ) = run_dirs(work_dir)
    log = next(run_dir.glob('*.log')).read_text()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log

    # Both ranks ran every step: DDP's gradient all-reduce needs both, and the
    # validation set was split between them (N_VAL / 2 ranks / batch per rank).
    assert sorted(train_records(run_dir)) == list(range(1, MAX_ITERS + 1))
    per_rank_iters = N_VAL // 2 // VAL_BATCH
    assert re.search(
        rf'Iter\(val\) \[{per_rank_iters}/{per_rank_iters}\]\s+'
        r'accuracy/top1', out), out[-3000:]

    # Rank 0 alone saves: one file per interval, no duplicates or per-rank copies.
    assert checkpoints(work_dir) == sorted(f'iter_{i}.pth'
                                           for i in range(CKPT_INTERVAL, MAX_ITERS +
                                                          1, CKPT_INTERVAL))
    assert last_checkpoint(work_dir).endswith(f'iter_{MAX_ITERS}.pth')
    assert sorted(p.name for p in work_dir.iterdir() if p.is_file()) == sorted(
        checkpoints(work_dir) + ['last_checkpoint', config.name])


# --------------------------------------------------------------------------------
# Distributed equals single-process (distributed tests: torchrun, 2 CPU ranks, gloo).
#
# Two ranks at batch B and one process at batch 2B see the same images at every step:
# with InfiniteSampler(shuffle=False) rank r reads indices r, r+2, r+4, ..., so the
# two ranks' batches of step s together are the single process's batch of step s.
# Same seed, so the same initial weights; no random augmentation; BatchNorm frozen
# (norm_eval): torch's SyncBatchNorm refuses CPU tensors (torch 2.14), so the per-rank
# batch statistics of plain BN would differ from the global ones. DDP averages the
# gradients of the ranks, which equals the single-process gradient when every rank's
# loss is its share of the global mean. The colorization loss divides by the global
# count of kept pixels (colorization_head.global_avg_factor); one rank gets a grayscale
# image (no loss) at every step, so per-rank normalisation would fail this test.

TINY_COLOR_CFG = REPO_ROOT / 'tests' / 'data' / 'configs' / (
    'tiny_colorization_imagefolder.py')
TINY_HNC_CFG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny_hnc_imagefolder.py'
PER_RANK_BATCH = 2
EQ_ITERS = 3
LOSS_RTOL = 1e-5  # float32 sums in another order
WEIGHT_ATOL, WEIGHT_RTOL = 1e-5, 1e-4  # after EQ_ITERS optimizer steps


def _colour_folder(root):
    """``train/img_XX.png``: 12 random-colour 32x32 images; every 4th (XX = 0, 4, 8)
    is gray, so rank 0 (indices 0, 2 of each step of 4) keeps fewer pixels."""
    from PIL import Image
    rng = np.random.default_rng(1)
    (root / 'train').mkdir(parents=True)
    for i in range(PER_RANK_BATCH * 2 * EQ_ITERS):
        img = rng.integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
        if i % 4 == 0:
            img[:] = img[..., :1]
        Image.fromarray(img).save(root / 'train' / f'img_{i:02d}.png')
    return root


def _recording_config(base, folder, hooks=()):
    """A config file: ``base`` on CPU ranks + every rank writes its losses
    (RankLossRecorderHook), after ``hooks`` (type names)."""
    hooks = ''.join(f"dict(type='{h}'), " for h in hooks)
    return cpu_dist_config(
        base, folder, ['rank_loss_recorder'],
        f"custom_hooks = [{hooks}dict(type='RankLossRecorderHook')]\n")


def _rank_losses(work_dir, rank):
    with open(work_dir / f'losses_rank{rank}.json') as f:
        return {int(it): rec for it, rec in json.load(f).items()}


# 'rebalanced': the paper's class rebalancing (lambda 0.5) with prior='auto': each run
# estimates its prior with ColorPriorHook (the two ranks each read half of the sampled
# images and sum their histograms), so the equality below needs both ranks to weight
# their pixels with the single process's prior.
@pytest.mark.parametrize('case', ['colorization', 'rebalanced', 'hnc'])
def test_dist_two_ranks_equal_one_process(case, image_root, tmp_path):
    hooks = ()
    if case in ('colorization', 'rebalanced'):
        config, root = TINY_COLOR_CFG, _colour_folder(tmp_path / 'colour')
        data = [
            f'train_dataloader.dataset.data_root={root}',
            'model.backbone.norm_eval=True'
        ]
        if case == 'rebalanced':
            hooks = ('ColorPriorHook', )
            data += [
                'model.head.prior=auto', 'model.head.prior_samples=12',
                'model.head.rebalance_lambda=0.5'
            ]
    else:
        config, root = TINY_HNC_CFG, image_root
        data = [f'train_dataloader.dataset.data_root={root}']
    config = _recording_config(config, tmp_path, hooks)
    common = [
        '--no-validate', '--cfg-options', *data, f'train_cfg.max_iters={EQ_ITERS}',
        'train_dataloader.num_workers=0',
        f'default_hooks.checkpoint.interval={EQ_ITERS}'
    ]
    env = cpu_dist_env()
    single, dist = tmp_path / 'single', tmp_path / 'dist'
    run_tool([
        sys.executable, REPO_ROOT / 'tools' / 'train.py', config, '--work-dir', single,
        *common, f'train_dataloader.batch_size={2 * PER_RANK_BATCH}'
    ],
             cwd=tmp_path,
             env=env)
    env.update(PYTHON=sys.executable, PORT=str(free_port()))
    run_tool([
        'bash', REPO_ROOT / 'tools' / 'dist_train.sh', config, '2', '--work-dir', dist,
        *common, f'train_dataloader.batch_size={PER_RANK_BATCH}'
    ],
             cwd=tmp_path,
             env=env)

    one = _rank_losses(single, 0)
    ranks = [_rank_losses(dist, r) for r in (0, 1)]
    assert sorted(one) == sorted(ranks[0]) == sorted(ranks[1]) == list(
        range(1, EQ_ITERS + 1))
    for it in one:
        for name in (k for k in one[it] if k.startswith('loss')):
            mean = (ranks[0][it][name] + ranks[1][it][name]) / 2
            assert mean == pytest.approx(one[it][name], rel=LOSS_RTOL), (it, name)

    a = torch.load(single / f'iter_{EQ_ITERS}.pth')['state_dict']
    b = torch.load(dist / f'iter_{EQ_ITERS}.pth')['state_dict']
    assert a.keys() == b.keys()
    if case == 'rebalanced':  # a real prior from all 12 images, the same in both runs
        assert int(a['head.prior_num_images']) == int(b['head.prior_num_images']) == 9
        assert float(a['head.prior'].sum()) == pytest.approx(1.0)
        torch.testing.assert_close(b['head.prior'], a['head.prior'])
    worst = max(((b[k].double() - a[k].double()).abs().max().item(), k) for k in a)
    print(f'{case}: max |weight diff| after {EQ_ITERS} steps: {worst[0]:.3g} '
          f'({worst[1]})')
    for key in a:
        torch.testing.assert_close(
            b[key],
            a[key],
            rtol=WEIGHT_RTOL,
            atol=WEIGHT_ATOL,
            msg=lambda m: f'{key}: {m}')
