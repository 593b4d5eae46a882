"""``tools/dist_train.sh CONFIG 2``: two torchrun processes on CPU (gloo)."""
import re
import sys

from tool_helpers import (CKPT_INTERVAL, MAX_ITERS, N_VAL, REPO_ROOT, TINY_CFG,
                          checkpoints, data_options, free_port, last_checkpoint,
                          run_dirs, run_tool, tool_env, train_records)

VAL_BATCH = 4  # val_dataloader.batch_size in TINY_CFG


def test_dist_train_two_cpu_processes(image_root, tmp_path):
    work_dir = tmp_path / 'work'
    env = tool_env()
    env.update(PYTHON=sys.executable, PORT=str(free_port()))
    proc = run_tool(
        ['bash', REPO_ROOT / 'tools' / 'dist_train.sh', TINY_CFG, '2',
         '--work-dir', work_dir, *data_options(image_root)],
        cwd=tmp_path, env=env)
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
    assert re.search(rf'Iter\(val\) \[{per_rank_iters}/{per_rank_iters}\]\s+'
                     r'accuracy/top1', out), out[-3000:]

    # Rank 0 alone saves: one file per interval, no duplicates or per-rank copies.
    assert checkpoints(work_dir) == sorted(
        f'iter_{i}.pth' for i in range(CKPT_INTERVAL, MAX_ITERS + 1, CKPT_INTERVAL))
    assert last_checkpoint(work_dir).endswith(f'iter_{MAX_ITERS}.pth')
    assert sorted(p.name for p in work_dir.iterdir() if p.is_file()) == sorted(
        checkpoints(work_dir) + ['last_checkpoint', TINY_CFG.name])
