"""Mixed precision on CPU: ``--amp`` where mmengine's AmpOptimWrapper needs a GPU."""
import contextlib

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward and loss run under CPU bfloat16 autocast (no
    loss scale); a non-finite loss raises ``FloatingPointError``.

    Args:
        dtype (str): Only ``'bfloat16'``. Defaults to ``'bfloat16'``.
        **kwargs: ``OptimWrapper``'s arguments.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs):
        if dtype != 'bfloat16':
            raise ValueError(
                f"optim_wrapper.dtype: CPUAmpOptimWrapper autocasts to 'bfloat16', "
                f'got {dtype!r}')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield

    def update_params(self, loss: torch.Tensor, **kwargs) -> None:
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(
                f'non-finite loss ({float(loss.detach().float().sum())}) under '
                'bfloat16 autocast (CPUAmpOptimWrapper, --amp): train without --amp '
                'or lower the learning rate')
        super().update_params(loss, **kwargs)
