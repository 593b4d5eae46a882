"""Table of the cifar10-mini HNC vs. plain runs, read from their work dirs.

Each run directory (``<root>/<variant>_s<seed>``) holds mmengine's
``<timestamp>/vis_data/scalars.json``; the last validation record (the final
epoch; runs stopped earlier are skipped) gives top-1 accuracy and the
NegativeCAMMetric values. Prints one row per run and the mean ± sample
standard deviation per variant, as markdown.

    python benchmarks/hnc_cifar10mini_table.py [work_dirs/hnc_cifar10mini]
"""
import glob
import json
import os.path as osp
import re
import statistics
import sys

KEYS = [('accuracy/top1', 'top-1 (%)'), ('neg_cam/peak_ratio', 'peak ratio'),
        ('neg_cam/peak_above_target', 'neg. peak > target (%)'),
        ('neg_cam/pos_pixel_share', 'positive px in neg. CAMs (%)')]


def last_val(run_dir: str):
    records = []
    for path in sorted(glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    vals = [r for r in records if 'accuracy/top1' in r]
    return vals[-1] if vals else None


def main(root='work_dirs/hnc_cifar10mini'):
    runs = {}
    for run_dir in sorted(glob.glob(osp.join(root, '*_s*'))):
        m = re.match(r'(.+)_s(\d+)$', osp.basename(run_dir))
        rec = last_val(run_dir)
        if m and rec is not None:
            runs.setdefault(m.group(1), []).append((int(m.group(2)), rec))
    if not runs:
        raise SystemExit(f'no finished runs with validation results in {root}')
    # unfinished runs (validated at an earlier epoch) are left out
    final = max(rec.get('step', 0) for items in runs.values() for _, rec in items)
    for variant in list(runs):
        left = [(s, r) for s, r in runs[variant] if r.get('step') == final]
        for s, r in runs[variant]:
            if r.get('step') != final:
                print(f'(skipped {variant}_s{s}: last validation at epoch '
                      f'{r.get("step")} < {final})')
        if left:
            runs[variant] = left
        else:
            del runs[variant]
    head = '| run | seed | epoch | ' + ' | '.join(k[1] for k in KEYS) + ' |'
    print(head)
    print('|' + '---|' * (3 + len(KEYS)))
    for variant, items in sorted(runs.items()):
        for seed, rec in sorted(items):
            print(f'| {variant} | {seed} | {rec.get("step")} | ' +
                  ' | '.join(f'{rec[k]:.2f}' for k, _ in KEYS) + ' |')
    print()
    print('| run | seeds | ' + ' | '.join(k[1] for k in KEYS) + ' |')
    print('|' + '---|' * (2 + len(KEYS)))
    for variant, items in sorted(runs.items()):
        cells = []
        for k, _ in KEYS:
            xs = [rec[k] for _, rec in items]
            sd = statistics.stdev(xs) if len(xs) > 1 else float('nan')
            cells.append(f'{statistics.mean(xs):.2f} ± {sd:.2f}')
        print(f'| {variant} | {len(items)} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main(*sys.argv[1:])
