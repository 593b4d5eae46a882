"""CPUAmpOptimWrapper: the forward inside optim_context is bfloat16-autocast, the
update outside it is not, and a non-finite loss stops before any step."""
import pytest
import torch
from mmpretrain.registry import OPTIM_WRAPPERS

import colorssl  # noqa: F401  (registers CPUAmpOptimWrapper)


def _wrapper(model):
    return OPTIM_WRAPPERS.build(
        dict(
            type='CPUAmpOptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))


def test_forward_autocast_and_step():
    model = torch.nn.Linear(4, 3)
    wrapper = _wrapper(model)
    x = torch.randn(2, 4)
    with wrapper.optim_context(model):
        out = model(x)
    assert out.dtype == torch.bfloat16
    before = model.weight.detach().clone()
    wrapper.update_params(out.float().square().mean())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)


def test_non_finite_loss_stops_before_the_step():
    model = torch.nn.Linear(4, 3)
    wrapper = _wrapper(model)
    before = model.weight.detach().clone()
    loss = model(torch.randn(2, 4)).sum() * float('nan')
    with pytest.raises(FloatingPointError, match='non-finite loss.*--amp'):
        wrapper.update_params(loss)
    assert torch.equal(model.weight, before)


def test_other_dtype_is_refused_naming_the_key():
    with pytest.raises(ValueError, match='optim_wrapper.dtype'):
        OPTIM_WRAPPERS.build(
            dict(
                type='CPUAmpOptimWrapper',
                dtype='float16',
                optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1)))
