"""GPU readiness check: one command, one summary table, non-zero exit on any failure.

    bash benchmarks/gpu_check.sh [--cpu] [--steps N] [--gpus N] [--skip-tests]
        [--skip-dist] [--keep DIR]

(``gpu_check.sh`` runs this file with the environment's Python.) With CUDA it checks:

1. ``cuda tests``: the tests that skip without CUDA (the test files that test
   ``torch.cuda.is_available()``, selected with ``-k cuda``) pass, and none skipped.
2. ``amp <model>``: ``--steps`` (20) training steps under mmengine's
   ``AmpOptimWrapper`` (fp16, dynamic loss scale) of the paper's colorization
   network (batch 40, 176 px), ResNet-50 colorization, ResNet-50 + HNC (k=100 of
   1000 classes) and, for the step ratio, the supervised ResNet-50 (batch 32, 224
   px): every loss finite, the weights updated (the loss scaler did not skip every
   step), and for colorization the log-probabilities that reach the soft-encoded
   loss are float32 although the logits are fp16 (a wrapper around
   ``soft_target_nll`` records their dtype). Images/s from the median step time
   after 3 warm-up steps.
3. ``ratio``: ResNet-50 colorization step time / supervised ResNet-50 step time
   (same batch and size).
4. ``dist_train.sh``: ``tools/dist_train.sh`` on all GPUs (``--gpus``) with NCCL
   and ``--amp`` for 6 iterations of the paper network on generated images: exit 0,
   the world size in the log, finite losses, the final checkpoint written.
5. ``2 ranks = 1 process`` (2 GPUs or more): the tiny colorization test config with
   SyncBN, 3 steps on 2 GPUs at batch 2 per rank and on one GPU at batch 4: the same
   weights (1e-4 + 1e-3 relative; GPU reductions are not bit-reproducible).

Without CUDA (or with ``--cpu``) the same code paths run reduced: bf16 autocast on
CPU (``torch.autocast('cpu', dtype=torch.bfloat16)``; mmengine 0.10.7's
AmpOptimWrapper asserts a GPU, so an OptimWrapper whose ``optim_context`` adds the
autocast stands in), batch 2 at 64 px, 3 steps, quarter-width paper network; the
CUDA tests are reported as skipped; ``dist_train.sh`` runs 2 CPU processes (gloo)
on a quarter-width paper network, and the equivalence check freezes BatchNorm instead
of SyncBN (GPU-only in torch). CPU timings are not GPU numbers.
"""
import argparse
import contextlib
import glob
import importlib
import json
import math
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
COLORNET = 'configs/colorization/colorization_colornet_1xb40-450k_in1k.py'
R50_COLOR = 'configs/colorization/colorization_resnet50_8xb32-200k_in1k.py'
R50_HNC = 'configs/hnc/hnc-kd_resnet50_8xb32-120e_in1k.py'
R50_SUPERVISED = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
WARMUP = 3  # steps left out of the timing (GPU mode)


class Row:
    """One line of the summary table."""

    def __init__(self, check, setting, status, detail='', speed=None):
        self.check, self.setting, self.status = check, setting, status
        self.detail, self.speed = detail, speed


def print_table(rows):
    head = ('check', 'setting', 'result', 'images/s', 'detail')
    cells = [(r.check, r.setting, r.status, '' if r.speed is None else f'{r.speed:.1f}',
              r.detail) for r in rows]
    widths = [max(len(str(c[i])) for c in cells + [head]) for i in range(4)]

    def line(c):
        return ' | '.join(str(c[i]).ljust(widths[i])
                          for i in range(4)) + ' | ' + str(c[4])

    print('\n' + line(head))
    print('-+-'.join('-' * w for w in widths) + '-+-' + '-' * 20)
    for c in cells:
        print(line(c))


# ----------------------------------------------------------------------- AMP
def bf16_cpu_optim_wrapper(optimizer):
    """An mmengine OptimWrapper whose forward context is CPU bf16 autocast, as
    AmpOptimWrapper's is CUDA fp16 autocast (which mmengine allows on GPUs only)."""
    from mmengine.optim import OptimWrapper

    class BF16CpuOptimWrapper(OptimWrapper):

        @contextlib.contextmanager
        def optim_context(self, model):
            with super().optim_context(model), torch.autocast(
                    'cpu', dtype=torch.bfloat16):
                yield

    return BF16CpuOptimWrapper(optimizer=optimizer)


@contextlib.contextmanager
def record_loss_dtypes(model):
    """Record the dtypes around the colorization loss: the logits the loss module
    gets (``logits``) and the log-probabilities ``soft_target_nll`` gets
    (``log_prob``); for an HNC head, the dtype of ``loss_hnc`` (``hnc``)."""
    seen = {'logits': set(), 'log_prob': set(), 'hnc': set()}
    handles, restore = [], []
    head = getattr(model, 'head', None)
    loss_module = getattr(head, 'loss_module', None)
    if loss_module is not None and type(loss_module).__name__ == \
            'MultinomialColorLoss':
        handles.append(
            loss_module.register_forward_pre_hook(
                lambda m, args: seen['logits'].add(str(args[0].dtype))))
        mcl = importlib.import_module('colorssl.models.losses.multinomial_color_loss')
        original = getattr(mcl, 'soft_target_nll', None)
        if original is not None:

            def recording(log_prob, *args, **kwargs):
                seen['log_prob'].add(str(log_prob.dtype))
                return original(log_prob, *args, **kwargs)

            mcl.soft_target_nll = recording
            restore.append(lambda: setattr(mcl, 'soft_target_nll', original))
    hnc = getattr(head, 'hnc_loss', None)
    if hnc is not None:
        handles.append(
            hnc.register_forward_hook(
                lambda m, args, out: seen['hnc'].add(str(out.dtype))))
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()
        for undo in restore:
            undo()


def build_model(config, device, cpu_mode):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import colorssl  # noqa: F401
    from colorssl.color import DEFAULT_PRIOR
    if '::' in config:  # a config of an installed OpenMMLab package
        from mmengine.hub import get_config
        cfg = get_config(config)
    else:
        cfg = Config.fromfile(osp.join(REPO, config))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    if model_cfg.get('type') == 'Colorization':
        # The shipped prior: the rebalancing path runs without a prior estimate.
        model_cfg.head.prior = DEFAULT_PRIOR
        if cpu_mode and model_cfg.backbone.type == 'ColorizationNet':
            model_cfg.backbone.base_channels = 16
            model_cfg.head.in_channels = 64
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return cfg, model.to(device).train()


def synthetic_batch(kind, batch, size, num_classes, seed=0):
    """Random uint8 RGB images (N, 3, size, size) and data samples."""
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g)
    samples = []
    for i in range(batch):
        sample = DataSample()
        if kind == 'cls':
            sample.set_gt_label(int(torch.randint(num_classes, (1, ), generator=g)))
        samples.append(sample)
    return dict(inputs=imgs, data_samples=samples)


def amp_check(name, config, kind, batch, size, steps, device, cpu_mode):
    """Train ``steps`` AMP steps; return (Row, median step seconds)."""
    from mmengine.optim import build_optim_wrapper
    setting = f'b{batch} {size}px {"bf16 cpu" if cpu_mode else "fp16"}'
    try:
        cfg, model = build_model(config, device, cpu_mode)
        optim_cfg = dict(cfg.optim_wrapper)
        optim_cfg.pop('type', None)
        optim_cfg.pop('loss_scale', None)
        if cpu_mode:
            plain = build_optim_wrapper(model, dict(optim_cfg, type='OptimWrapper'))
            wrapper = bf16_cpu_optim_wrapper(plain.optimizer)
        else:
            wrapper = build_optim_wrapper(
                model,
                dict(
                    optim_cfg,
                    type='AmpOptimWrapper',
                    dtype='float16',
                    loss_scale='dynamic'))
        num_classes = getattr(getattr(model, 'head', None), 'num_classes', 1000)
        data = synthetic_batch(kind, batch, size, num_classes)
        before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
        losses, times = [], []
        with record_loss_dtypes(model) as seen:
            for _ in range(steps):
                if device.type == 'cuda':
                    torch.cuda.synchronize()
                start = time.perf_counter()
                log_vars = model.train_step(data, wrapper)
                if device.type == 'cuda':
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
                losses.append({
                    k: float(v)
                    for k, v in log_vars.items() if k.startswith('loss')
                })
        after = [p.detach() for p in model.parameters() if p.requires_grad]
    except Exception as err:  # noqa: BLE001  (reported in the table)
        return Row(f'amp {name}', setting, 'FAIL',
                   f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'), None

    problems = []
    bad = [(i, k) for i, rec in enumerate(losses) for k, v in rec.items()
           if not math.isfinite(v)]
    if bad:
        problems.append(f'non-finite losses at (step, name) {bad[:3]}')
    if not any(not torch.equal(a, b) for a, b in zip(before, after)):
        problems.append('no weight changed (every step skipped by the loss scaler?)')
    low = 'bfloat16' if cpu_mode else 'float16'
    if kind == 'color':
        if seen['log_prob'] and seen['log_prob'] != {'torch.float32'}:
            problems.append(f'log-probs reach the loss as {sorted(seen["log_prob"])}')
        if not seen['log_prob']:
            problems.append('soft_target_nll was not called (cannot check dtypes)')
        if seen['logits'] != {f'torch.{low}'}:
            problems.append(f'logits {sorted(seen["logits"])}: autocast not active?')
    if seen['hnc'] and seen['hnc'] != {'torch.float32'}:
        problems.append(f'loss_hnc dtype {sorted(seen["hnc"])}')
    timed = times[WARMUP:] if len(times) > WARMUP + 1 else times[1:] or times
    step = statistics.median(timed)
    first, last = losses[0].get('loss', sum(losses[0].values())), \
        losses[-1].get('loss', sum(losses[-1].values()))
    dtypes = ''
    if kind == 'color':
        dtypes = (f'; logits {"/".join(sorted(seen["logits"]))} -> log-probs '
                  f'{"/".join(sorted(seen["log_prob"]))}')
    detail = f'{steps} steps, loss {first:.4g} -> {last:.4g}{dtypes}'
    if problems:
        return Row(f'amp {name}', setting, 'FAIL', '; '.join(problems)), step
    return Row(f'amp {name}', setting, 'PASS', detail, batch / step), step


# ----------------------------------------------------------------- CUDA tests
def cuda_tests(python, cpu_mode):
    files = sorted(
        f
        for f in glob.glob(osp.join(REPO, 'tests', '**', 'test_*.py'), recursive=True)
        if 'cuda.is_available' in open(f).read())
    rel = [osp.relpath(f, REPO) for f in files]
    if cpu_mode:
        return Row('cuda tests', f'{len(rel)} files', 'SKIP',
                   'no CUDA here: ' + ' '.join(rel))
    proc = subprocess.run([python, '-m', 'pytest', '-q', '-rs', '-k', 'cuda', *rel],
                          cwd=REPO,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ''
    skipped = re.search(r'(\d+) skipped', tail)
    ok = proc.returncode == 0 and not skipped and 'passed' in tail
    if not ok:
        print(proc.stdout[-4000:])
    return Row('cuda tests', f'{len(rel)} files, -k cuda', 'PASS' if ok else 'FAIL',
               tail)


# ------------------------------------------------------------ dist_train.sh
def make_image_folder(root, n, size):
    from PIL import Image
    rng = np.random.default_rng(0)
    os.makedirs(osp.join(root, 'train'), exist_ok=True)
    for i in range(n):
        base = rng.integers(0, 256, size=(8, 8, 3)).astype(np.uint8)
        img = Image.fromarray(base).resize((size, size), Image.BILINEAR)
        img.save(osp.join(root, 'train', f'img_{i:03d}.jpg'), quality=90)


def dist_check(python, gpus, cpu_mode, work):
    from colorssl.color import DEFAULT_PRIOR
    iters = 3 if cpu_mode else 6
    batch, crop, image = (2, 64, 72) if cpu_mode else (8, 176, 200)
    data_root = osp.join(work, 'images')
    make_image_folder(data_root, 32, image)
    head = f'prior={DEFAULT_PRIOR!r}' + (', in_channels=64' if cpu_mode else '')
    backbone = 'backbone=dict(base_channels=16), ' if cpu_mode else ''
    config = osp.join(work, 'dist_colornet.py')
    with open(config, 'w') as f:
        f.write(f'_base_ = {osp.join(REPO, COLORNET)!r}\n'
                f'model = dict({backbone}head=dict({head}))\n'
                'train_dataloader = dict(\n'
                f'    batch_size={batch}, num_workers=2, persistent_workers=False,\n'
                "    sampler=dict(type='InfiniteSampler', shuffle=True),\n"
                "    dataset=dict(_delete_=True, type='CustomDataset',\n"
                f"                 data_root={data_root!r}, data_prefix='train',\n"
                '                 with_label=False, pipeline=[\n'
                "                     dict(type='LoadRGBImage'),\n"
                f"                     dict(type='RandomCrop', crop_size={crop}),\n"
                "                     dict(type='PackInputs')]))\n"
                f'train_cfg = dict(max_iters={iters}, val_interval=100000)\n'
                'default_hooks = dict(logger=dict(interval=1),\n'
                f'                     checkpoint=dict(interval={iters}))\n'
                'custom_hooks = []\n'
                "env_cfg = dict(dist_cfg=dict(backend='nccl'))\n")
    world = 2 if cpu_mode else gpus
    work_dir = osp.join(work, 'dist_work')
    env = dict(os.environ, PYTHON=python, PORT=str(29500 + os.getpid() % 1000))
    cmd = [
        'bash',
        osp.join(REPO, 'tools', 'dist_train.sh'), config,
        str(world), '--work-dir', work_dir, '--no-validate'
    ] + ([] if cpu_mode else ['--amp'])
    setting = (f'{world} CPU procs gloo' if cpu_mode else f'{world} GPUs nccl amp')
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    wall = time.perf_counter() - start
    problems = []
    if proc.returncode != 0:
        problems.append(f'exit {proc.returncode}')
    if not re.search(rf'GPU number: {world}\b', proc.stdout):
        problems.append(f'world size {world} not in the log')
    if not osp.isfile(osp.join(work_dir, f'iter_{iters}.pth')):
        problems.append(f'no iter_{iters}.pth')
    scalars = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    losses = []
    if scalars:
        with open(scalars[0]) as f:
            losses = [json.loads(line)['loss'] for line in f if '"loss"' in line]
    if len(losses) != iters or not all(math.isfinite(v) for v in losses):
        problems.append(f'logged losses {losses}')
    if problems:
        print(proc.stdout[-4000:])
        return Row('dist_train.sh', setting, 'FAIL', '; '.join(problems))
    return Row(
        'dist_train.sh', setting, 'PASS',
        f'{iters} iters b{batch}/rank {crop}px in {wall:.0f} s, loss '
        f'{losses[0]:.4g} -> {losses[-1]:.4g}')


def equivalence_check(python, cpu_mode, work):
    """2 ranks at batch 2 vs one process at batch 4: the same weights after 3 steps.

    The tiny colorization test config (tests/data/configs), one grayscale image on
    rank 0 at every step. On GPUs: SyncBN and NCCL; on CPU: frozen BatchNorm and gloo
    (torch's SyncBatchNorm is GPU-only), as tests/test_tools/test_dist_train.py.
    """
    from PIL import Image
    config = osp.join(REPO, 'tests', 'data', 'configs',
                      'tiny_colorization_imagefolder.py')
    setting = '2 CPU procs, frozen BN' if cpu_mode else '2 GPUs, SyncBN, nccl'
    if not osp.isfile(config):
        return Row('2 ranks = 1 process', setting, 'SKIP', f'{config} not found')
    root = osp.join(work, 'equiv_images', 'train')
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(12):
        img = rng.integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
        if i % 4 == 0:
            img[:] = img[..., :1]
        Image.fromarray(img).save(osp.join(root, f'img_{i:02d}.png'))
    opts = [
        '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={osp.dirname(root)}',
        'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3',
        'train_dataloader.num_workers=0'
    ]
    if cpu_mode:
        opts.append('model.backbone.norm_eval=True')
        rtol, atol = 1e-4, 1e-5
    else:  # cuDNN/cuBLAS reductions are not bit-reproducible across batch splits
        opts += [
            'model.backbone.norm_cfg.type=SyncBN', 'env_cfg.dist_cfg.backend=nccl',
            'randomness.deterministic=False'
        ]
        rtol, atol = 1e-3, 1e-4
    env = dict(os.environ, PYTHON=python, PORT=str(29600 + os.getpid() % 1000))
    single, dist = osp.join(work, 'equiv_single'), osp.join(work, 'equiv_dist')
    runs = [([
        python,
        osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', single, *opts,
        'train_dataloader.batch_size=4'
    ], dict(
        env, CUDA_VISIBLE_DEVICES=env.get('CUDA_VISIBLE_DEVICES', '0').split(',')[0])),
            ([
                'bash',
                osp.join(REPO, 'tools', 'dist_train.sh'), config, '2', '--work-dir',
                dist, *opts, 'train_dataloader.batch_size=2'
            ], env)]
    for cmd, run_env in runs:
        proc = subprocess.run(
            cmd,
            cwd=REPO,
            env=run_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True)
        if proc.returncode != 0:
            print(proc.stdout[-4000:])
            return Row('2 ranks = 1 process', setting, 'FAIL',
                       f'{osp.basename(cmd[1])} exited {proc.returncode}')
    a = torch.load(osp.join(single, 'iter_3.pth'), map_location='cpu')['state_dict']
    b = torch.load(osp.join(dist, 'iter_3.pth'), map_location='cpu')['state_dict']
    worst, key = max(((b[k].double() - a[k].double()).abs().max().item(), k) for k in a
                     if a[k].is_floating_point())
    close = a.keys() == b.keys() and all(
        torch.allclose(b[k].double(), a[k].double(), rtol=rtol, atol=atol)
        for k in a if a[k].is_floating_point())
    return Row(
        '2 ranks = 1 process', setting, 'PASS' if close else 'FAIL',
        f'3 steps b2x2 vs b4: max |weight diff| {worst:.2g} ({key}); '
        f'allowed {atol:g} + {rtol:g} rel')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--cpu', action='store_true', help='reduced CPU mode (automatic without CUDA)')
    parser.add_argument(
        '--steps',
        type=int,
        default=None,
        help='AMP steps per model (default 20 on GPU, 3 on CPU)')
    parser.add_argument(
        '--gpus',
        type=int,
        default=None,
        help='GPUs for dist_train.sh (default: all visible)')
    parser.add_argument('--skip-tests', action='store_true')
    parser.add_argument('--skip-dist', action='store_true')
    parser.add_argument(
        '--keep', default=None, help='keep the generated data and work dirs here')
    args = parser.parse_args()

    cpu_mode = args.cpu or not torch.cuda.is_available()
    device = torch.device('cpu' if cpu_mode else 'cuda')
    steps = args.steps or (3 if cpu_mode else 20)
    gpus = args.gpus or (torch.cuda.device_count() if not cpu_mode else 0)
    import mmengine
    print(f'torch {torch.__version__} (CUDA {torch.version.cuda}), mmengine '
          f'{mmengine.__version__}, ' +
          ('CPU mode: bf16 autocast, reduced sizes; no GPU numbers' if cpu_mode else
           ', '.join(torch.cuda.get_device_name(i) for i in range(gpus))))
    python = sys.executable
    rows = []
    if not args.skip_tests:
        rows.append(cuda_tests(python, cpu_mode))

    if cpu_mode:
        models = [('colornet (paper, c16)', COLORNET, 'color', 2, 64),
                  ('resnet50 colorization', R50_COLOR, 'color', 2, 64),
                  ('resnet50 + HNC k100/1000', R50_HNC, 'cls', 2, 64),
                  ('resnet50 supervised', R50_SUPERVISED, 'cls', 2, 64)]
    else:
        models = [('colornet (paper)', COLORNET, 'color', 40, 176),
                  ('resnet50 colorization', R50_COLOR, 'color', 32, 224),
                  ('resnet50 + HNC k100/1000', R50_HNC, 'cls', 32, 224),
                  ('resnet50 supervised', R50_SUPERVISED, 'cls', 32, 224)]
    step_times = {}
    for name, config, kind, batch, size in models:
        row, step = amp_check(name, config, kind, batch, size, steps, device, cpu_mode)
        print(f'{row.check}: {row.status} {row.detail}', flush=True)
        rows.append(row)
        step_times[name] = step
    color, sup = step_times.get('resnet50 colorization'), step_times.get(
        'resnet50 supervised')
    if color and sup:
        rows.append(
            Row(
                'ratio', 'r50 colorization / supervised step', 'INFO',
                f'{color / sup:.2f}x ({color * 1e3:.0f} ms / '
                f'{sup * 1e3:.0f} ms per step)'))

    if not args.skip_dist:
        if not cpu_mode and gpus < 1:
            rows.append(Row('dist_train.sh', '', 'FAIL', 'no GPU visible'))
        else:
            work = args.keep or tempfile.mkdtemp(prefix='gpu_check_')
            os.makedirs(work, exist_ok=True)
            rows.append(dist_check(python, gpus, cpu_mode, work))
            if cpu_mode or gpus >= 2:
                rows.append(equivalence_check(python, cpu_mode, work))

    print_table(rows)
    failed = [r.check for r in rows if r.status == 'FAIL']
    print(f'\n{"FAILED: " + ", ".join(failed) if failed else "all checks passed"}' +
          (' (CPU mode: no GPU was checked)' if cpu_mode else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
