"""Data-dependent initialisation: rescale each layer on real images before training."""
import contextlib
import itertools
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

LAYER_TYPES = ('Conv2d', 'ConvTranspose2d', 'Linear')


class _Captured(Exception):
    """Stops the forward pass once the measured layer ran."""


@torch.no_grad()
def channel_stats(outputs: torch.Tensor) -> torch.Tensor:
    """(N, C, ...) layer output -> (3, C) float64 count, sum and sum of squares per
    channel, summed over ranks."""
    x = outputs.detach().double().transpose(0, 1).reshape(outputs.size(1), -1)
    stats = torch.stack([torch.full_like(x[:, 0], x.size(1)), x.sum(1), (x * x).sum(1)])
    if get_world_size() > 1:
        all_reduce(stats, op='sum')
    return stats


@torch.no_grad()
def rescale_layer(layer: nn.Module, stats: torch.Tensor, eps: float = 1e-5) -> None:
    """``w <- w / std``, ``b <- (b - mean) / std`` per output channel, from the
    (3, C) :func:`channel_stats` of the layer's outputs."""
    count, total, squares = stats
    mean = total / count
    std = (squares / count - mean * mean).clamp(min=0).sqrt().clamp(min=eps)
    shape = [1] * layer.weight.dim()
    shape[1 if isinstance(layer, nn.ConvTranspose2d) else 0] = -1
    layer.weight.div_(std.to(layer.weight).view(shape))
    if layer.bias is not None:
        layer.bias.sub_(mean.to(layer.bias)).div_(std.to(layer.bias))


@HOOKS.register_module()
class DataDependentInitHook(Hook):
    """In ``before_train``, rescale every selected layer, in forward order, to
    zero-mean, unit-variance outputs per channel on ``num_batches`` training batches
    (Kraehenbuehl et al., ICLR 2016); BatchNorm statistics restart. Does nothing when
    the run resumes or starts from ``load_from``.

    Args:
        modules (Sequence[str]): Sub-modules rescaled. Defaults to ``('backbone', )``.
        layer_types (Sequence[str]): Among :data:`LAYER_TYPES`. Defaults to all.
        num_batches (int): Training batches measured. Defaults to 1.
    """

    priority = 'NORMAL'  # after ColorPriorHook: the loss forward needs the prior

    def __init__(self,
                 modules: Sequence[str] = ('backbone', ),
                 layer_types: Sequence[str] = LAYER_TYPES,
                 num_batches: int = 1):
        unknown = [t for t in layer_types if t not in LAYER_TYPES]
        if unknown:
            raise ValueError(f'DataDependentInitHook.layer_types: unknown {unknown}, '
                             f'expected among {LAYER_TYPES}')
        if not (isinstance(num_batches, int) and num_batches >= 1):
            raise ValueError('DataDependentInitHook.num_batches must be an int >= 1, '
                             f'got {num_batches!r}')
        self.modules = tuple(modules)
        self.layer_types = tuple(getattr(nn, t) for t in layer_types)
        self.num_batches = num_batches

    def before_train(self, runner) -> None:
        if runner._resume or runner._load_from:
            print_log(
                'DataDependentInitHook: skipped, the weights come from a checkpoint',
                logger='current')
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        layers = []
        for prefix in self.modules:
            if getattr(model, prefix, None) is None:
                raise ValueError(f'DataDependentInitHook.modules: the model '
                                 f'({type(model).__name__}) has no {prefix!r}')
            layers += [(f'{prefix}.{name}', m)
                       for name, m in getattr(model, prefix).named_modules()
                       if isinstance(m, self.layer_types)]
        was_training = model.training
        model.train()  # BatchNorm normalises with the batch statistics
        batches = [
            model.data_preprocessor(batch, True)
            for batch in itertools.islice(runner.train_dataloader, self.num_batches)
        ]
        for name, layer in layers:
            captured = []

            def hook(module, args, output):
                captured.append(channel_stats(output))
                raise _Captured

            handle = layer.register_forward_hook(hook)
            try:
                for data in batches:
                    with torch.no_grad(), contextlib.suppress(_Captured):
                        model(**data, mode='loss')
            finally:
                handle.remove()
            if len(captured) != len(batches):
                raise RuntimeError(f'DataDependentInitHook: layer {name} did not run '
                                   "in the model's loss forward")
            rescale_layer(layer, sum(captured))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
        model.train(was_training)
        print_log(
            f'DataDependentInitHook: {len(layers)} layers of {self.modules} '
            'rescaled to zero-mean, unit-variance outputs on '
            f"{sum(d['inputs'].size(0) for d in batches)} training images per rank",
            logger='current')
