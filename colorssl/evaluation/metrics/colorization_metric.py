"""Colour prediction quality of a colorization model (Zhang et al. 2016, Table 1)."""
from typing import Optional, Sequence, Union

import torch
from mmengine.dist import all_reduce, get_comm_device, get_dist_info
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS

from colorssl.color import load_ab_bins, load_prior, nearest_bin

INPUT_DEPENDENCE_WARN = 0.1
"""``input_dependence`` below this logs a WARNING."""


def _mean_ab_of(source) -> torch.Tensor:
    """(2,) float32 from ``(a, b)`` or a prior file (its ``meta['mean_ab']``, else
    the prior-weighted mean of its bin centres)."""
    if not isinstance(source, str):
        return torch.as_tensor(source, dtype=torch.float32).reshape(2)
    prior = load_prior(source)
    mean = prior['meta'].get('mean_ab')
    if mean is None:
        p = prior['prior'].double()
        mean = (p[:, None] * prior['bins'].double()).sum(0) / p.sum()
    return torch.as_tensor(mean, dtype=torch.float32)


@METRICS.register_module()
class ColorizationMetric(BaseMetric):
    """AuC (raw and class-rebalanced), ab error, vividness and input dependence of
    predicted colours, and the same numbers for trivial baselines.

    Per colour image with ``pred_ab`` and ``gt_ab`` (2, H, W), per-pixel error
    ``e = ||pred - gt||_2`` and thresholds ``t = 0, 1, ..., max_thresh``:

    - ``ab_l2``: mean ``e``; ``auc``: ``mean_t (share of pixels with e <= t)`` in
      percent; both averaged over images.
    - ``auc_rebalanced``: the curve of all pixels pooled, each weighted by
      ``1 / p(q)``, ``q`` the nearest of ``bins`` to its true ab and ``p`` the bin
      frequency of the evaluated pixels (``prior=None``) or the prior of a file
      (pixels of bins with ``p = 0`` left out).
    - ``pred_chroma``, ``gt_chroma``: mean ``sqrt(a^2 + b^2)``; ``chroma_ratio``:
      pred / gt.
    - ``input_dependence``: mean over a, b of std over images of the mean predicted
      value / the same of the truth; below :data:`INPUT_DEPENDENCE_WARN` a WARNING is
      logged.
    - ``num_gray_skipped``: samples with ``is_gray``, left out.

    Baselines ``'gray'`` (ab = 0) and ``'mean'`` (ab = ``mean_ab``, or the samples'
    ``train_mean_ab`` when None) add ``<name>/ab_l2``, ``<name>/auc``,
    ``<name>/pred_chroma``, ``<name>/chroma_ratio``, ``<name>/auc_rebalanced``.

    The state is a float64 vector of fixed size, summed over ranks by one all_reduce.

    Args:
        max_thresh (int): Largest threshold. Defaults to 150.
        bins (str): The ab bins of ``auc_rebalanced``. Defaults to ``'original313'``.
        prior (str, optional): Prior .npz file weighting ``auc_rebalanced``.
        baselines (Sequence[str]): Any of ``'gray'``, ``'mean'``. Defaults to ().
        mean_ab (tuple | str, optional): ``(a, b)`` or a prior file, for ``'mean'``.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'color'``.
    """
    default_prefix: Optional[str] = 'color'

    def __init__(self,
                 max_thresh: int = 150,
                 bins: str = 'original313',
                 prior: Optional[str] = None,
                 baselines: Sequence[str] = (),
                 mean_ab: Optional[Union[Sequence[float], str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        baselines = (baselines, ) if isinstance(baselines, str) else tuple(baselines)
        if not set(baselines) <= {'gray', 'mean'}:
            raise ValueError("ColorizationMetric baselines must be among ('gray', "
                             f"'mean'), got {baselines}")
        self.max_thresh = int(max_thresh)
        self.thresholds = torch.arange(0, self.max_thresh + 1, dtype=torch.float32)
        self.bins = load_ab_bins(bins)
        self.weights = None
        if prior is not None:
            p = load_prior(prior)['prior'].double()
            self.weights = torch.where(p > 0, 1. / p.clamp(min=1e-300), 0.)
        self.baselines = baselines
        self.mean_ab = None if mean_ab is None else _mean_ab_of(mean_ab)
        self._names = ('', ) + baselines
        self._hist_size = self.bins.size(0) * (self.max_thresh + 2)
        self._sums = torch.zeros(
            11 + len(self._names) * (3 + self._hist_size), dtype=torch.float64)
        self._pending = torch.zeros_like(self._sums)  # the latest image, see evaluate
        self._num_seen = 0

    def _fields(self, acc: torch.Tensor) -> tuple:
        """Views of ``acc``: counts (2,) of colour / gray images, gt_chroma (1,), sum
        and sum of squares of the per-image means (pred / gt, a / b, 2), stats
        (P, 3) of ab_l2 / auc / pred_chroma, pixel counts (P, Q * (max_thresh + 2))
        by true bin and first threshold passed; P: the model, then the baselines."""
        num = len(self._names)
        parts = acc.split([2, 1, 8, 3 * num, self._hist_size * num])
        shapes = [(2, ), (1, ), (2, 2, 2), (num, 3), (num, self._hist_size)]
        return tuple(part.view(shape) for part, shape in zip(parts, shapes))

    def _predictions(self, pred: torch.Tensor, sample: dict) -> list:
        out = [pred]
        for name in self.baselines:
            mean_ab = torch.zeros(2) if name == 'gray' else self.mean_ab
            if mean_ab is None:
                mean_ab = sample.get('train_mean_ab')
            if mean_ab is None:
                raise ValueError(
                    "ColorizationMetric baselines=('mean', ...): the model has no "
                    'colour prior (model.head.prior=None); set val_evaluator.mean_ab '
                    "/ test_evaluator.mean_ab to the training set's mean (a, b) or "
                    'a prior file')
            out.append(mean_ab.float().cpu()[:, None, None].expand_as(pred))
        return out

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Add each sample's ``pred_ab`` and ``gt_ab`` (2, H, W) to the sums."""
        for sample in data_samples:
            # The previous image is final now; this one waits (see evaluate).
            self._sums += self._pending
            self._pending.zero_()
            self._num_seen += 1
            counts, gt_chroma, means, stats, hists = self._fields(self._pending)
            if sample.get('is_gray', False):
                counts[1] = 1
                continue
            pred = sample['pred_ab'].float().cpu()
            gt = sample['gt_ab'].float().cpu()
            counts[0] = 1
            gt_chroma[0] = gt.norm(dim=0).mean().item()
            gt_bin = nearest_bin(gt[None], self.bins)[0].flatten()
            for i, p in enumerate(self._predictions(pred, sample)):
                err = (p - gt).norm(dim=0).flatten()
                within = (err[None] <= self.thresholds[:, None]).float().mean(1)
                # e <= t  <=>  ceil(e) <= t for integer t
                level = err.ceil().clamp(max=self.max_thresh + 1).long()
                hists[i] += torch.bincount(
                    gt_bin * (self.max_thresh + 2) + level,
                    minlength=self._hist_size).double()
                values = [err.mean(), within.mean(), p.norm(dim=0).mean()]
                values = [v.item() * f for v, f in zip(values, (1, 100, 1))]
                stats[i] = torch.tensor(values, dtype=torch.float64)
            m = torch.stack([pred.double().mean((1, 2)), gt.double().mean((1, 2))])
            means[..., 0], means[..., 1] = m, m * m

    def evaluate(self, size: int) -> dict:
        """The metrics of the ``size`` images of the evaluation set, on every rank.
        Rank ``r``'s ``k``-th image is image ``k * world_size + r`` (DefaultSampler): a
        latest image at position ``size`` or beyond (padding) is left out."""
        rank, world_size = get_dist_info()
        sums = self._sums.clone()
        if self._num_seen and (self._num_seen - 1) * world_size + rank < size:
            sums += self._pending
        if world_size > 1:
            sums = sums.to(get_comm_device())
            all_reduce(sums, op='sum')
        self._sums.zero_()
        self._pending.zero_()
        self._num_seen = 0
        metrics = self.compute_metrics([sums.cpu()])
        if self.prefix:
            metrics = {f'{self.prefix}/{k}': v for k, v in metrics.items()}
        return metrics

    def _auc_rebalanced(self, hist: torch.Tensor) -> float:
        counts = hist.view(self.bins.size(0), self.max_thresh + 2)
        per_bin = counts.sum(1)
        weights = self.weights
        if weights is None:
            weights = torch.where(per_bin > 0, 1. / per_bin.clamp(min=1), 0.)
        total = (weights * per_bin).sum()
        if total <= 0:
            return float('nan')
        passed = counts[:, :self.max_thresh + 1].cumsum(1)  # (Q, T + 1)
        return ((weights[:, None] * passed).sum(0) / total).mean().item() * 100

    def compute_metrics(self, results: list) -> dict:
        """The metrics of accumulators (:meth:`_fields`), summed."""
        counts, gt_chroma, means, stats, hists = self._fields(
            torch.stack(results).sum(0))
        num_color, num_gray = counts.tolist()
        out = dict(num_gray_skipped=num_gray)
        if not num_color:
            return out
        out['gt_chroma'] = gt_chroma.item() / num_color
        for i, name in enumerate(self._names):
            pre = f'{name}/' if name else ''
            for key, total in zip(('ab_l2', 'auc', 'pred_chroma'), stats[i].tolist()):
                out[pre + key] = total / num_color
            out[pre + 'chroma_ratio'] = out[pre + 'pred_chroma'] / max(
                out['gt_chroma'], 1e-8)
            out[pre + 'auc_rebalanced'] = self._auc_rebalanced(hists[i])
        total, squares = means.unbind(-1)  # (2, 2) each: pred / gt, a / b
        dependence, n = float('nan'), num_color
        if n >= 2:
            std = ((squares - total * total / n) / (n - 1)).clamp(min=0).sqrt()
            dependence = (std[0] / std[1].clamp(min=1e-8)).mean().item()
        out['input_dependence'] = dependence
        if dependence < INPUT_DEPENDENCE_WARN:
            MMLogger.get_current_instance().warning(
                f'{self.prefix}/input_dependence = {dependence:.3f} < '
                f'{INPUT_DEPENDENCE_WARN}: the predicted colours hardly depend on the '
                'photo (the model paints one colour map on every image). Check the '
                'learning rate and weight decay (docs/colorization.md).')
        return out
