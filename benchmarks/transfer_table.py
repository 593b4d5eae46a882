"""Collect the small real-image transfer results (docs/transfer.md).

Each run directory ``<root>/<task>_<init>_s<seed>`` (task: ``linear``, ``det``
or ``fcn``; init: ``colorization-pre`` or ``random-init``) holds mmengine's
``<timestamp>/vis_data/scalars.json``; the last validation record of the run
is read. Prints one row per run and mean ± sample standard deviation per task
and initialisation (the value alone for a single run), as markdown.

    python benchmarks/transfer_table.py [work_dirs/transfer]
"""
import glob
import json
import os.path as osp
import re
import statistics
import sys

# task -> (metric keys in scalars.json, column titles)
TASKS = {
    'linear': ([f'probe/conv{i}/top1' for i in range(1, 6)] + ['probe/best/top1'],
               [f'conv{i} top-1' for i in range(1, 6)] + ['best layer top-1']),
    'det': (['pascal_voc/mAP'], ['bbox mAP@0.5 (VOC07 11-point, %)']),
    'fcn': (['mIoU', 'aAcc'], ['mIoU (%)', 'pixel acc. (%)']),
}


def last_val(run_dir: str, keys):
    records = []
    for path in sorted(glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    vals = [r for r in records if all(k in r for k in keys)]
    return vals[-1] if vals else None


def main(root='work_dirs/transfer'):
    runs = {}
    for run_dir in sorted(glob.glob(osp.join(root, '*_s*'))):
        m = re.match(r'(linear|det|fcn)_(.+)_s(\d+)$', osp.basename(run_dir))
        if not m:
            continue
        task, init, seed = m.group(1), m.group(2), int(m.group(3))
        rec = last_val(run_dir, TASKS[task][0])
        if rec is None:
            print(f'(no validation result yet in {run_dir})')
            continue
        runs.setdefault(task, {}).setdefault(init, []).append((seed, rec))
    if not runs:
        raise SystemExit(f'no finished runs with validation results in {root}')
    scale = {'pascal_voc/mAP': 100.0}  # mmdet reports mAP as a fraction
    for task, inits in runs.items():
        keys, titles = TASKS[task]
        print(f'\n### {task}\n')
        print('| init | seed | ' + ' | '.join(titles) + ' |')
        print('|' + '---|' * (2 + len(keys)))
        for init, items in sorted(inits.items()):
            for seed, rec in sorted(items):
                print(f'| {init} | {seed} | ' +
                      ' | '.join(f'{rec[k] * scale.get(k, 1.0):.2f}'
                                 for k in keys) + ' |')
        print('\n| init | runs | ' + ' | '.join(titles) + ' |')
        print('|' + '---|' * (2 + len(keys)))
        for init, items in sorted(inits.items()):
            cells = []
            for k in keys:
                xs = [rec[k] * scale.get(k, 1.0) for _, rec in items]
                if len(xs) > 1:
                    cells.append(f'{statistics.mean(xs):.2f} ± '
                                 f'{statistics.stdev(xs):.2f}')
                else:
                    cells.append(f'{xs[0]:.2f}')
            print(f'| {init} | {len(items)} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main(*sys.argv[1:])
