"""Send gray | prediction | ground-truth pictures to mmengine's visualizer."""
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from colorssl.color import lab_to_rgb


def triptychs(lab_l: torch.Tensor, pred_ab: torch.Tensor,
              gt_ab: torch.Tensor) -> np.ndarray:
    """L (N, 1, H, W), predicted and true ab (N, 2, H, W) -> uint8 RGB rows of gray |
    prediction | ground truth, shape (N * H, 3 * W, 3)."""
    rows = torch.cat([
        lab_to_rgb(torch.cat([lab_l, ab], 1))
        for ab in (torch.zeros_like(gt_ab), pred_ab, gt_ab)
    ],
                     dim=3)  # (N, 3, H, 3W)
    grid = torch.cat(list(rows), dim=1)  # (3, N*H, 3W)
    return (grid.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()


@HOOKS.register_module()
class ColorizationVisualizationHook(Hook):
    """Every ``interval`` training iterations and after the last one, add the
    :func:`triptychs` of the batch's first ``num_samples`` images to
    ``runner.visualizer``.

    Args:
        interval (int): Iterations between pictures. Defaults to 1000.
        num_samples (int): Images per picture. Defaults to 4.
        temperature (float, optional): Annealed-mean temperature; None: the head's.
        name (str): Image name in the backends. Defaults to ``'colorization'``.
    """
    priority = 'LOW'

    def __init__(self,
                 interval: int = 1000,
                 num_samples: int = 4,
                 temperature: Optional[float] = None,
                 name: str = 'colorization'):
        self.interval = interval
        self.num_samples = num_samples
        self.temperature = temperature
        self.name = name
        self._last_batch = None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if data_batch is None:
            return
        self._last_batch = data_batch
        if self.every_n_train_iters(runner, self.interval):
            self._draw(runner, data_batch, step=runner.iter + 1)

    def after_train(self, runner) -> None:
        if self._last_batch is not None and runner.iter % self.interval != 0:
            self._draw(runner, self._last_batch, step=runner.iter)

    @torch.no_grad()
    def _draw(self, runner, data_batch: dict, step: int) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        images = data_batch['inputs'][:self.num_samples]
        was_training = model.training
        model.eval()
        try:
            lab = model.data_preprocessor.to_lab(images)
            pred_ab = model.colorize(images, temperature=self.temperature)
        finally:
            model.train(was_training)
        picture = triptychs(lab[:, :1], pred_ab, lab[:, 1:])
        runner.visualizer.add_image(self.name, picture, step=step)
