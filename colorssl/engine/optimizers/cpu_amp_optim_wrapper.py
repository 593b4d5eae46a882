"""Mixed precision on CPU: ``--amp`` where mmengine's AmpOptimWrapper needs a GPU."""
import contextlib

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under CPU autocast in bfloat16.

    The same split as ``AmpOptimWrapper``: the model's forward and loss inside
    :meth:`optim_context` are autocast, backward and the step are not. bfloat16 has
    float32's exponent range, so there is no loss scale. A non-finite loss stops the
    run (``FloatingPointError``) instead of stepping on it. ``tools/train.py --amp``
    selects this wrapper when no CUDA device is available.

    Args:
        dtype (str): ``'bfloat16'`` (the CPU autocast type). Defaults to
            ``'bfloat16'``.
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
