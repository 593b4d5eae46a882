import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from colorssl.evaluation.metrics import ColorizationMetric


def test_values_against_numpy():
    g = torch.Generator().manual_seed(0)
    preds = [torch.randn(2, 5, 6, generator=g) * 30 for _ in range(3)]
    gts = [torch.randn(2, 5, 6, generator=g) * 30 for _ in range(3)]
    metric = ColorizationMetric(max_thresh=150)
    samples = [dict(pred_ab=p, gt_ab=t, is_gray=False) for p, t in zip(preds, gts)]
    samples.append(dict(pred_ab=preds[0], gt_ab=gts[0], is_gray=True))
    metric.process(None, samples)
    out = metric.evaluate(4)

    errs = [np.linalg.norm((p - t).numpy(), axis=0).ravel() for p, t in zip(preds, gts)]
    auc = np.mean([np.mean([(e <= t).mean() for t in range(151)]) for e in errs]) * 100
    pred_c = np.mean([np.linalg.norm(p.numpy(), axis=0).mean() for p in preds])
    gt_c = np.mean([np.linalg.norm(t.numpy(), axis=0).mean() for t in gts])
    assert out['color/ab_l2'] == pytest.approx(
        np.mean([e.mean() for e in errs]), rel=1e-5)
    assert out['color/auc'] == pytest.approx(auc, rel=1e-5)
    assert out['color/pred_chroma'] == pytest.approx(pred_c, rel=1e-5)
    assert out['color/chroma_ratio'] == pytest.approx(pred_c / gt_c, rel=1e-5)
    assert out['color/num_gray_skipped'] == 1


def test_perfect_prediction():
    gt = torch.randn(2, 4, 4) * 20
    metric = ColorizationMetric()
    metric.process(None, [dict(pred_ab=gt.clone(), gt_ab=gt, is_gray=False)])
    out = metric.evaluate(1)
    assert out['color/ab_l2'] == 0 and out['color/auc'] == 100
    assert out['color/chroma_ratio'] == pytest.approx(1.)


# --------------------------------------------------------- rebalanced AuC, baselines
def numpy_auc_rebalanced(preds, gts, bins, prior=None, max_thresh=150):
    """Straightforward re-implementation: every pixel of every image pooled, weight
    1 / p(nearest ground-truth bin), p the images' own bin frequency by default."""
    err = np.concatenate(
        [np.linalg.norm(p - t, axis=0).ravel() for p, t in zip(preds, gts)])
    ab = np.concatenate([t.reshape(2, -1).T for t in gts])
    nearest = ((ab[:, None] - bins[None])**2).sum(-1).argmin(1)
    if prior is None:
        prior = np.bincount(nearest, minlength=len(bins)) / len(nearest)
    w = np.where(prior[nearest] > 0, 1. / np.maximum(prior[nearest], 1e-300), 0.)
    curve = [(w * (err <= t)).sum() / w.sum() for t in range(max_thresh + 1)]
    return np.mean(curve) * 100


def skewed_images(n=4, seed=0):
    """Mostly one colour, a few pixels of rarer ones (what rebalancing is about)."""
    g = torch.Generator().manual_seed(seed)
    gts = []
    for _ in range(n):
        gt = torch.full((2, 6, 5), 10.) + torch.randn(2, 6, 5, generator=g)
        gt[:, :2, :2] = torch.randn(2, 2, 2, generator=g) * 40
        gts.append(gt)
    preds = [
        torch.full_like(t, 10.) + torch.randn(t.shape, generator=g) * 3 for t in gts
    ]
    return preds, gts


def test_auc_rebalanced_against_numpy():
    from colorssl.color import load_ab_bins
    bins = load_ab_bins('original313').double().numpy()
    preds, gts = skewed_images()
    metric = ColorizationMetric()
    metric.process(None, [dict(pred_ab=p, gt_ab=t) for p, t in zip(preds, gts)])
    out = metric.evaluate(len(gts))
    ref = numpy_auc_rebalanced([p.double().numpy() for p in preds],
                               [t.double().numpy() for t in gts], bins)
    assert out['color/auc_rebalanced'] == pytest.approx(ref, rel=1e-6)
    # predicting the dominant colour is good on raw AuC, worse once rebalanced
    assert out['color/auc_rebalanced'] < out['color/auc'] - 5


def test_auc_rebalanced_with_a_prior_file(tmp_path):
    from colorssl.color import load_ab_bins, save_prior
    bins = load_ab_bins('original313')
    prior = torch.rand(313, generator=torch.Generator().manual_seed(1)).double()
    prior[::7] = 0  # bins without probability leave their pixels out
    prior /= prior.sum()
    path = str(tmp_path / 'prior.npz')
    save_prior(path, prior, bins, meta=dict(source='test'))
    preds, gts = skewed_images(seed=2)
    metric = ColorizationMetric(prior=path)
    metric.process(None, [dict(pred_ab=p, gt_ab=t) for p, t in zip(preds, gts)])
    out = metric.evaluate(len(gts))
    ref = numpy_auc_rebalanced([p.double().numpy() for p in preds],
                               [t.double().numpy() for t in gts],
                               bins.double().numpy(),
                               prior=prior.numpy())
    assert out['color/auc_rebalanced'] == pytest.approx(ref, rel=1e-6)


def test_baselines_are_the_metric_of_constant_predictions(tmp_path):
    from colorssl.color import load_ab_bins, save_prior
    preds, gts = skewed_images(n=3, seed=4)
    samples = [dict(pred_ab=p, gt_ab=t, is_gray=False) for p, t in zip(preds, gts)]
    metric = ColorizationMetric(baselines=('gray', 'mean'), mean_ab=(3., -4.))
    metric.process(None, samples)
    out = metric.evaluate(len(samples))
    for name, value in (('gray', (0., 0.)), ('mean', (3., -4.))):
        plain = ColorizationMetric()
        plain.process(None, [
            dict(
                pred_ab=torch.tensor(value)[:, None, None].expand_as(t).clone(),
                gt_ab=t) for t in gts
        ])
        ref = plain.evaluate(len(gts))
        for key in ('auc', 'auc_rebalanced', 'ab_l2', 'chroma_ratio'):
            assert out[f'color/{name}/{key}'] == pytest.approx(ref[f'color/{key}'])
    assert out['color/gray/chroma_ratio'] == 0
    # mean ab from a prior file that records it
    bins = load_ab_bins('original313')
    path = str(tmp_path / 'p.npz')
    save_prior(path, torch.ones(313) / 313, bins, meta=dict(mean_ab=[3., -4.]))
    from_file = ColorizationMetric(baselines='mean', mean_ab=path)
    from_file.process(None, samples)
    assert from_file.evaluate(len(samples))['color/mean/auc'] == pytest.approx(
        out['color/mean/auc'])
    # no mean_ab: the model's training mean, carried by the predictions
    from_model = ColorizationMetric(baselines='mean')
    from_model.process(
        None, [dict(s, train_mean_ab=torch.tensor([3., -4.])) for s in samples])
    assert from_model.evaluate(len(samples))['color/mean/auc'] == pytest.approx(
        out['color/mean/auc'])
    with pytest.raises(ValueError, match='test_evaluator.mean_ab'):
        ColorizationMetric(baselines=('mean', )).process(None, samples)
    with pytest.raises(ValueError, match='baselines'):
        ColorizationMetric(baselines=('sepia', ))


# ------------------------------------------------------------------ input dependence
def test_input_dependence_against_numpy():
    g = torch.Generator().manual_seed(1)
    gts = [torch.randn(2, 4, 5, generator=g) * 20 + i for i in range(6)]
    preds = [0.3 * t + torch.randn(2, 4, 5, generator=g) for t in gts]
    metric = ColorizationMetric()
    metric.process(None, [dict(pred_ab=p, gt_ab=t) for p, t in zip(preds, gts)])
    out = metric.evaluate(6)
    mp = np.stack([p.numpy().reshape(2, -1).mean(1) for p in preds])
    mg = np.stack([t.numpy().reshape(2, -1).mean(1) for t in gts])
    expected = np.mean(mp.std(0, ddof=1) / mg.std(0, ddof=1))
    assert out['color/input_dependence'] == pytest.approx(expected, rel=1e-6)


def test_one_colour_map_for_every_photo_has_no_input_dependence_and_warns():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance('test_input_dependence', log_level='INFO')
    g = torch.Generator().manual_seed(2)
    painted = torch.randn(2, 4, 4, generator=g) * 10  # the same map for every photo
    samples = [
        dict(pred_ab=painted, gt_ab=torch.randn(2, 4, 4, generator=g) * 30)
        for _ in range(5)
    ]
    metric = ColorizationMetric()
    metric.process(None, samples)
    records = []
    handler = _ListHandler(records)
    logger.addHandler(handler)
    try:
        out = metric.evaluate(5)
    finally:
        logger.removeHandler(handler)
    assert out['color/input_dependence'] == pytest.approx(0., abs=1e-6)
    warnings = [r for r in records if r.levelname == 'WARNING']
    assert len(warnings) == 1 and 'input_dependence' in warnings[0].getMessage()


class _ListHandler(__import__('logging').Handler):

    def __init__(self, records):
        super().__init__()
        self.records = records

    def emit(self, record):
        self.records.append(record)


# ------------------------------------------------------- constant memory, ranks
REFERENCE = Path(__file__).parents[2] / 'data' / 'metric' / (
    'colorization_metric_reference.json')
REFERENCE_SETTINGS = {
    'default': dict(),
    'baselines': dict(baselines=('gray', 'mean'), mean_ab=(3., -4.), max_thresh=60),
}


def reference_images():
    """13 images of three sizes, two grayscale (the numbers of REFERENCE)."""
    g = torch.Generator().manual_seed(7)
    samples = []
    for i in range(13):
        h, w = 6 + i % 3, 5 + i % 2
        gt = torch.randn(2, h, w, generator=g) * (10 + 3 * i)
        gt[:, :2, :2] += torch.randn(2, 2, 2, generator=g) * 50
        pred = 0.5 * gt + torch.randn(2, h, w, generator=g) * 8
        samples.append(dict(pred_ab=pred, gt_ab=gt, is_gray=(i % 5 == 3)))
    return samples


@pytest.mark.parametrize('setting', sorted(REFERENCE_SETTINGS))
def test_same_numbers_as_the_list_implementation(setting):
    """REFERENCE holds what the implementation that kept one record per image (and
    gathered the records across ranks) computed on these images."""
    expected = json.loads(REFERENCE.read_text())[setting]
    metric = ColorizationMetric(**REFERENCE_SETTINGS[setting])
    samples = reference_images()
    metric.process(None, samples[:6])
    metric.process(None, samples[6:])
    out = metric.evaluate(len(samples))
    assert out.keys() == expected.keys()
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def _state_bytes(metric):
    """Bytes of every tensor and list the metric holds, and of its pickle
    without the image counter (whose encoding grows with its value)."""
    state = dict(vars(metric))
    state.pop('_num_seen')
    tensors = [v for v in state.values() if isinstance(v, torch.Tensor)]
    assert tensors, 'the metric keeps its sums in tensors'
    return (sum(t.numel() * t.element_size() for t in tensors),
            len(pickle.dumps(state)))


def test_memory_does_not_grow_with_the_images():
    metric = ColorizationMetric(baselines=('gray', ))
    samples = reference_images()
    metric.process(None, samples[:2])
    size = _state_bytes(metric)
    for _ in range(20):
        metric.process(None, samples)
    assert _state_bytes(metric) == size
    assert metric.results == []
    metric.evaluate(2 + 20 * len(samples))
    # evaluate() starts the next evaluation afresh
    metric.process(None, samples)
    again = metric.evaluate(len(samples))
    fresh = ColorizationMetric(baselines=('gray', ))
    fresh.process(None, samples)
    assert again == fresh.evaluate(len(samples))


def _rank_evaluate(rank, world_size, port, setting, out_file):
    import torch.distributed as dist
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    try:
        samples = reference_images()
        # mmengine's DefaultSampler (shuffle=False, round_up=True): rank r reads
        # r, r + W, ...; the last round is padded with the first images.
        per_rank = -(-len(samples) // world_size)
        order = (list(range(len(samples))) * 2)[:per_rank * world_size]
        metric = ColorizationMetric(**REFERENCE_SETTINGS[setting])
        mine = order[rank::world_size]
        metric.process(None, [samples[i] for i in mine[:3]])
        metric.process(None, [samples[i] for i in mine[3:]])
        out = metric.evaluate(len(samples))
        with open(f'{out_file}.{rank}', 'w') as f:
            json.dump(out, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize('world_size', [2, 3])
def test_ranks_give_the_single_process_numbers(tmp_path, world_size):
    """2 and 3 gloo processes (13 images: the last round is padded) give every rank
    the numbers of one process."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    out_file = str(tmp_path / 'out')
    mp.spawn(
        _rank_evaluate, args=(world_size, port, 'baselines', out_file),
        nprocs=world_size)
    expected = json.loads(REFERENCE.read_text())['baselines']
    for rank in range(world_size):
        with open(f'{out_file}.{rank}') as f:
            out = json.load(f)
        for key, value in expected.items():
            assert out[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (rank, key)
