"""Log the images ``LoadRGBImage(on_error='skip')`` skipped, summed over all ranks."""
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from colorssl.datasets.transforms.loading import skipped_image_count


@HOOKS.register_module()
class SkippedImagesHook(Hook):
    """Report unreadable images skipped during training, over all ranks and workers.

    ``LoadRGBImage(on_error='skip')`` warns about each file where it runs (often a
    DataLoader worker) and counts it in memory shared with the main process
    (:func:`colorssl.datasets.transforms.skipped_image_count`). Every ``interval``
    training iterations and at the end of training this hook sums the counts of all
    ranks (one all-reduce of one number, called on every rank at the same
    iteration) and, when the total grew, logs e.g.::

        LoadRGBImage skipped 3 unreadable image(s) so far (summed over 2 ranks)

    The total is also kept in the message hub's runtime info as ``skipped_images``.
    Enabled in ``configs/_base_/colorization_runtime.py``; elsewhere add
    ``default_hooks = dict(skipped_images=dict(type='SkippedImagesHook'))``.

    Args:
        interval (int): Check every ``interval`` training iterations. Defaults to 50.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, interval: int = 50):
        if interval < 1:
            raise ValueError(f'SkippedImagesHook.interval must be >= 1, got {interval}')
        self.interval = interval
        self.total = 0

    def _sum_over_ranks(self) -> int:
        count = torch.tensor([float(skipped_image_count())], dtype=torch.float64)
        if get_world_size() > 1:
            all_reduce(count, op='sum')  # mmengine moves it to the backend's device
        return int(round(count.item()))

    def _report(self, runner, final: bool = False) -> None:
        total = self._sum_over_ranks()
        runner.message_hub.update_info('skipped_images', total)
        ranks = get_world_size()
        where = f'summed over {ranks} ranks' if ranks > 1 else 'one process'
        if total != self.total:
            runner.logger.warning(f'LoadRGBImage skipped {total} unreadable '
                                  f'image(s) so far ({where})')
        elif final and total:
            runner.logger.info(f'LoadRGBImage skipped {total} unreadable image(s) '
                               f'in this run ({where})')
        self.total = total

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._report(runner)

    def after_train(self, runner) -> None:
        self._report(runner, final=True)
