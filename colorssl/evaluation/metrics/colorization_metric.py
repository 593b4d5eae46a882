"""Colour prediction quality of a colorization model (Zhang et al. 2016, Table 1)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.dist import all_reduce, get_comm_device, get_dist_info
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS

from colorssl.color import load_ab_bins, load_prior, nearest_bin

BASELINES = ('gray', 'mean')

INPUT_DEPENDENCE_WARN = 0.1
"""``input_dependence`` below this at an evaluation logs a WARNING: the model paints
(nearly) the same colours on every photo."""


def _mean_ab_of(source) -> torch.Tensor:
    """(2,) float32 from a pair of numbers or a prior file (its exact ``mean_ab``
    when recorded, else the prior-weighted mean of the bin centres)."""
    if isinstance(source, str):
        prior = load_prior(source)
        mean = prior['meta'].get('mean_ab')
        if mean is None:
            p = prior['prior'].double()
            mean = (p[:, None] * prior['bins'].double()).sum(0) / p.sum()
        return torch.as_tensor(mean, dtype=torch.float32)
    mean = torch.as_tensor(source, dtype=torch.float32).reshape(-1)
    if mean.numel() != 2:
        raise ValueError(f'mean_ab must be (a, b) or a prior file, got {source!r}')
    return mean


@METRICS.register_module()
class ColorizationMetric(BaseMetric):
    """Per-pixel ab error, the paper's AuC (raw and class-rebalanced), the vividness
    of the output, and the same numbers for trivial baselines.

    For every image with ``pred_ab`` and ``gt_ab`` (2, H, W), with the per-pixel ab
    error ``e = ||pred - gt||_2`` and the thresholds ``t = 0, 1, ..., max_thresh``:

    - ``ab_l2``: mean ``e`` per pixel (averaged over images);
    - ``auc``: the area under the cumulative-mass curve of ``e``:
      ``mean_t (share of pixels with e <= t)``, in percent, per image and then
      averaged over images (the paper's "AuC", raw accuracy, thresholds 0..150);
    - ``auc_rebalanced``: the same curve with every pixel weighted by
      ``1 / p(q)``, ``q`` the nearest bin (of ``bins``) of its ground-truth ab and
      ``p`` a bin distribution, over all pixels of the evaluation set pooled:
      ``mean_t [sum_px w(px) [e(px) <= t] / sum_px w(px)]``, in percent. With
      ``prior=None`` (default) ``p`` is the evaluation set's own (unsmoothed) bin
      frequency, so this is the mean over the colours present of each colour's
      accuracy curve: every colour counts equally (the paper's class-rebalanced
      AuC). With a prior file, its (smoothed) distribution is used and pixels of
      bins it gives probability 0 are left out;
    - ``pred_chroma`` / ``gt_chroma``: mean chroma sqrt(a^2 + b^2) of prediction and
      truth, and ``chroma_ratio`` = pred / gt (desaturated predictions: << 1);
    - ``input_dependence``: for a and for b, the standard deviation over images of
      each image's mean predicted value divided by the same for the ground truth,
      averaged over a and b. 0 means one colour map for every photo (the model
      ignores its input); about 1 means its colours vary between photos as much as
      the true ones. Below 0.1 a WARNING is logged. The baselines have 0.

    Memory is constant: every image is added to fixed-size float64 sums (per
    prediction the three per-image means and the pooled pixel counts by
    ground-truth bin and error level, ``Q * (max_thresh + 2)``, 47,576 numbers at
    the defaults); what crosses ranks is those sums (one ``all_reduce``), not
    per-image records.

    **Baselines**, computed by the same code on the same images and reported as
    ``<name>/auc``, ``<name>/auc_rebalanced``, ``<name>/ab_l2``,
    ``<name>/pred_chroma``, ``<name>/chroma_ratio``:

    - ``'gray'``: ab = 0 everywhere (the input shown as it is);
    - ``'mean'``: ab = the training set's mean ab everywhere, from ``mean_ab``: a
      pair ``(a, b)`` or a prior file (``tools/compute_color_prior.py`` or the
      ``color_prior.npz`` that ``prior='auto'`` leaves in the work dir record the
      exact pixel mean; older files give the prior-weighted bin centre). With
      ``mean_ab=None`` the mean comes with the predictions (``train_mean_ab``,
      which :class:`Colorization` sets from its head's colour prior, so from the
      checkpoint); a model without a prior then needs ``mean_ab``.

    Grayscale images (``is_gray``) are skipped and counted in ``num_gray_skipped``.

    Args:
        max_thresh (int): Largest threshold of the AuCs. Defaults to 150.
        bins (str): The ab bins of ``auc_rebalanced``. Defaults to
            ``'original313'``.
        prior (str, optional): Prior .npz file for the weights of
            ``auc_rebalanced``; None: the evaluation set's own. Defaults to None.
        baselines (Sequence[str]): Any of ``'gray'``, ``'mean'``. Defaults to ().
        mean_ab (tuple | str, optional): For the ``'mean'`` baseline, see above;
            None: the model's. Defaults to None.
        collect_device (str): Device to collect results across ranks.
        prefix (str, optional): Metric name prefix. Defaults to ``'color'``.
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
        if isinstance(baselines, str):
            baselines = (baselines, )
        unknown = [b for b in baselines if b not in BASELINES]
        if unknown:
            raise ValueError(f'ColorizationMetric baselines must be among {BASELINES}, '
                             f'got {unknown}')
        self.max_thresh = int(max_thresh)
        self.thresholds = torch.arange(0, self.max_thresh + 1, dtype=torch.float32)
        self.bins = load_ab_bins(bins)
        self.weights = None
        if prior is not None:
            p = load_prior(prior)['prior'].double()
            if p.numel() != self.bins.size(0):
                raise ValueError(f'ColorizationMetric prior {prior!r} has {p.numel()} '
                                 f'bins, bins={bins!r} has {self.bins.size(0)}')
            self.weights = torch.where(p > 0, 1. / p.clamp(min=1e-300),
                                       torch.zeros_like(p))
        self.baselines = tuple(baselines)
        self.mean_ab = _mean_ab_of(mean_ab) if mean_ab is not None else None
        self._names = ('', ) + self.baselines
        self._hist_size = self.bins.size(0) * (self.max_thresh + 2)
        self._sums = self._zeros()
        self._pending = self._zeros()  # the latest image, see evaluate()
        self._num_seen = 0

    # ------------------------------------------------------------------------
    # The accumulator: one float64 vector of fixed size (no per-image state),
    # [num_color, num_gray, gt_chroma,
    #  (ab_l2, auc, pred_chroma) per prediction,
    #  input-dependence sums (2, 2, 3): prediction / truth, a / b, n / sum / squares,
    #  pooled (bin, level) pixel counts per prediction (Q * (max_thresh + 2) each)].
    _STATS = ('ab_l2', 'auc', 'pred_chroma')

    def _zeros(self) -> torch.Tensor:
        return torch.zeros(3 + 3 * len(self._names) + 12 +
                           self._hist_size * len(self._names), dtype=torch.float64)

    def _fields(self, acc: torch.Tensor) -> dict:
        """Views of ``acc``: counts (2,), gt_chroma (1,), stats (P, 3), means
        (2, 2, 3), hists (P, Q * (max_thresh + 2)); P predictions (model, baselines)."""
        num = len(self._names)
        counts, gt_chroma, stats, means, hists = acc.split(
            [2, 1, 3 * num, 12, self._hist_size * num])
        return dict(
            counts=counts,
            gt_chroma=gt_chroma,
            stats=stats.view(num, 3),
            means=means.view(2, 2, 3),
            hists=hists.view(num, self._hist_size))

    def _image_stats(self, pred: torch.Tensor, gt: torch.Tensor,
                     gt_bin: torch.Tensor, hist: torch.Tensor) -> List[float]:
        """One image's ``[ab_l2, auc, pred_chroma]``; its pixels are added to
        ``hist`` by ground-truth bin ``q`` and smallest passed threshold ``l``
        (``max_thresh + 1``: none), at ``q * (max_thresh + 2) + l``."""
        err = (pred - gt).norm(dim=0).flatten()
        within = (err[None] <= self.thresholds[:, None]).float().mean(1)
        # e <= t  <=>  ceil(e) <= t for integer t
        level = err.ceil().clamp(max=self.max_thresh + 1).long()
        hist += torch.bincount(
            gt_bin.flatten() * (self.max_thresh + 2) + level,
            minlength=self._hist_size).double()
        return [
            err.mean().item(),
            within.mean().item() * 100,
            pred.norm(dim=0).mean().item()
        ]

    def _predictions(self, pred: torch.Tensor, sample: dict) -> Dict[str, torch.Tensor]:
        out = {'': pred}
        for name in self.baselines:
            if name == 'gray':
                out[name] = torch.zeros_like(pred)
                continue
            mean_ab = self.mean_ab
            if mean_ab is None:
                mean_ab = sample.get('train_mean_ab')
                if mean_ab is None:
                    raise ValueError(
                        "ColorizationMetric baselines=('mean', ...): the model has "
                        'no colour prior to take the training mean ab from '
                        '(model.head.prior=None); set mean_ab of the evaluator '
                        '(val_evaluator.mean_ab / test_evaluator.mean_ab) to the '
                        "training set's mean (a, b) or a prior file")
            out[name] = mean_ab.float().cpu()[:, None, None].expand_as(pred)
        return out

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if not sample.get('is_gray', False):
                pred = sample['pred_ab'].float().cpu()
                gt = sample['gt_ab'].float().cpu()
                if pred.shape != gt.shape:
                    raise ValueError(f'pred_ab {tuple(pred.shape)} and gt_ab '
                                     f'{tuple(gt.shape)} differ')
                predictions = self._predictions(pred, sample)
            # The previous image is final now; this one waits (see evaluate).
            self._sums += self._pending
            self._pending.zero_()
            self._num_seen += 1
            acc = self._fields(self._pending)
            if sample.get('is_gray', False):
                acc['counts'][1] = 1
                continue
            acc['counts'][0] = 1
            acc['gt_chroma'][0] = gt.norm(dim=0).mean().item()
            gt_bin = nearest_bin(gt[None], self.bins)[0]
            for i, p in enumerate(predictions.values()):
                acc['stats'][i] = torch.tensor(
                    self._image_stats(p, gt, gt_bin, acc['hists'][i]),
                    dtype=torch.float64)
            means = torch.stack([pred.double().mean((1, 2)), gt.double().mean((1, 2))])
            acc['means'][..., 0] = 1
            acc['means'][..., 1] = means
            acc['means'][..., 2] = means * means

    def evaluate(self, size: int) -> dict:
        """The metrics of the ``size`` images of the evaluation set, equal on every
        rank.

        The fixed-size sums of the ranks are added up (one all_reduce, whatever the
        number of images). Like mmengine's ``collect_results``, this takes rank
        ``r``'s ``k``-th image to be image ``k * world_size + r`` (mmengine's
        ``DefaultSampler``), so the images a padded last round repeats (positions
        ``size`` and up: always a rank's latest image) are left out.
        """
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
        counts = hist.double().view(self.bins.size(0), self.max_thresh + 2)
        per_bin = counts.sum(1)
        if self.weights is None:
            weights = torch.where(per_bin > 0, 1. / per_bin.clamp(min=1),
                                  torch.zeros_like(per_bin))
        else:
            weights = self.weights
        total = (weights * per_bin).sum()
        if total <= 0:
            return float('nan')
        passed = counts[:, :self.max_thresh + 1].cumsum(1)  # (Q, T + 1)
        curve = (weights[:, None] * passed).sum(0) / total
        return curve.mean().item() * 100

    def compute_metrics(self, results: List[torch.Tensor]) -> dict:
        """The metrics from accumulators (see ``_zeros``), summed."""
        acc = self._fields(torch.stack(results).sum(0))
        num_color, num_gray = acc['counts'].tolist()
        out = dict(num_gray_skipped=num_gray)
        if not num_color:
            return out
        out['gt_chroma'] = acc['gt_chroma'].item() / num_color
        for i, name in enumerate(self._names):
            pre = f'{name}/' if name else ''
            for key, total in zip(self._STATS, acc['stats'][i].tolist()):
                out[pre + key] = total / num_color
            out[pre + 'chroma_ratio'] = out[pre + 'pred_chroma'] / max(
                out['gt_chroma'], 1e-8)
            out[pre + 'auc_rebalanced'] = self._auc_rebalanced(acc['hists'][i])
        out['input_dependence'] = self._input_dependence(acc['means'])
        if out['input_dependence'] < INPUT_DEPENDENCE_WARN:
            MMLogger.get_current_instance().warning(
                f"{self.prefix}/input_dependence = {out['input_dependence']:.3f} "
                f'< {INPUT_DEPENDENCE_WARN}: the predicted colours hardly depend on '
                'the photo (the model paints one colour map on every image). Check '
                'the learning rate and weight decay (docs/colorization.md).')
        return out

    @staticmethod
    def _input_dependence(sums: torch.Tensor) -> float:
        """mean over a, b of std_images(mean pred) / std_images(mean truth).

        Args:
            sums (Tensor): (2, 2, 3) count, sum and sum of squares of the
                per-image means (the ``means`` field of the accumulator).
        """
        count, total, squares = sums.unbind(-1)
        if count[0, 0] < 2:
            return float('nan')
        var = ((squares - total * total / count) / (count - 1)).clamp(min=0)
        std = var.sqrt()
        return (std[0] / std[1].clamp(min=1e-8)).mean().item()
