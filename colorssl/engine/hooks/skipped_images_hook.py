"""Log the images ``LoadRGBImage(on_error='skip')`` skipped, summed over all ranks."""
import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from colorssl.datasets.transforms.loading import skipped_image_count


@HOOKS.register_module()
class SkippedImagesHook(Hook):
    """Every ``interval`` training iterations and after training, sum
    :func:`~colorssl.datasets.transforms.skipped_image_count` over ranks (one
    all-reduce), keep it as the runtime info ``skipped_images`` and, when it grew,
    log ``LoadRGBImage skipped N unreadable image(s) so far (summed over R ranks)``.

    Args:
        interval (int): Defaults to 50.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, interval: int = 50):
        self.interval, self.total = interval, 0

    def _report(self, runner, final: bool = False) -> None:
        count = torch.tensor([float(skipped_image_count())], dtype=torch.float64)
        ranks = get_world_size()
        if ranks > 1:
            all_reduce(count, op='sum')
        total = int(round(count.item()))
        runner.message_hub.update_info('skipped_images', total)
        where = f'summed over {ranks} ranks' if ranks > 1 else 'one process'
        if total != self.total:
            runner.logger.warning(f'LoadRGBImage skipped {total} unreadable '
                                  f'image(s) so far ({where})')
        elif final and total:
            runner.logger.info(f'LoadRGBImage skipped {total} unreadable image(s) '
                               f'in this run ({where})')
        self.total = total

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.every_n_train_iters(runner, self.interval):
            self._report(runner)

    def after_train(self, runner) -> None:
        self._report(runner, final=True)
