"""Data-dependent initialisation: rescale each layer on real images before training."""
import time
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

LAYER_TYPES = {
    'Conv2d': nn.Conv2d,
    'ConvTranspose2d': nn.ConvTranspose2d,
    'Linear': nn.Linear,
}


class _Captured(Exception):
    """Raised by the forward hook to stop the forward pass once the layer ran."""


def _channel_dim(layer: nn.Module) -> int:
    """The output-channel dimension of a layer's weight."""
    return 1 if isinstance(layer, nn.ConvTranspose2d) else 0


@torch.no_grad()
def channel_stats(outputs: torch.Tensor) -> torch.Tensor:
    """Per-channel count, sum and sum of squares of a layer output.

    Args:
        outputs (Tensor): (N, C, ...) or (N, C) pre-activations.

    Returns:
        Tensor: (3, C) float64: count, sum, sum of squares (summed over ranks).
    """
    x = outputs.detach().double().transpose(0, 1).reshape(outputs.size(1), -1)
    stats = torch.stack([torch.full_like(x[:, 0], x.size(1)), x.sum(1), (x * x).sum(1)])
    if get_world_size() > 1:
        all_reduce(stats, op='sum')
    return stats


@torch.no_grad()
def rescale_layer(layer: nn.Module, stats: torch.Tensor, eps: float = 1e-5) -> None:
    """Make the layer's outputs zero-mean, unit-variance per channel.

    ``w <- w / std``, ``b <- (b - mean) / std`` with the mean and standard deviation
    of each output channel in ``stats`` (:func:`channel_stats`). A layer without a
    bias is only rescaled.
    """
    count, total, squares = stats
    mean = total / count
    std = (squares / count - mean * mean).clamp(min=0).sqrt().clamp(min=eps)
    shape = [1] * layer.weight.dim()
    shape[_channel_dim(layer)] = -1
    layer.weight.div_(std.to(layer.weight).view(shape))
    if layer.bias is not None:
        layer.bias.sub_(mean.to(layer.bias)).div_(std.to(layer.bias))


@HOOKS.register_module()
class DataDependentInitHook(Hook):
    """Rescale every conv / linear layer so that, on real training images, its
    pre-activations have zero mean and unit variance per channel.

    This is the data-dependent initialisation (Kraehenbuehl et al., ICLR 2016) that
    the released colorization model was trained from. In ``before_train`` the hook
    takes ``num_batches`` batches of the training loader through the model's data
    preprocessor and visits the selected layers in forward order: for each, one
    forward pass of the batch (``mode='loss'``, stopped after that layer)
    measures its output statistics (summed over ranks, so every rank applies the
    same change) and the layer's weight and bias are rescaled
    (:func:`rescale_layer`); later layers see the already rescaled ones.

    Nothing is done when training resumes or starts from ``load_from`` (the weights
    come from the checkpoint). BatchNorm running statistics are reset afterwards.

    Args:
        modules (Sequence[str]): Sub-modules of the model whose layers are
            rescaled, e.g. ``('backbone', 'neck')``. Defaults to ``('backbone', )``.
        layer_types (Sequence[str]): Layer classes rescaled, among ``'Conv2d'``,
            ``'ConvTranspose2d'``, ``'Linear'``. Defaults to all three.
        num_batches (int): Training batches the statistics are measured on.
            Defaults to 1.
    """

    # after ColorPriorHook (ABOVE_NORMAL): the head's loss needs the colour prior
    priority = 'NORMAL'

    def __init__(self,
                 modules: Sequence[str] = ('backbone', ),
                 layer_types: Sequence[str] = tuple(LAYER_TYPES),
                 num_batches: int = 1):
        unknown = [t for t in layer_types if t not in LAYER_TYPES]
        if unknown:
            raise ValueError(f'DataDependentInitHook.layer_types: unknown {unknown}, '
                             f'expected among {sorted(LAYER_TYPES)}')
        if not (isinstance(num_batches, int) and num_batches >= 1):
            raise ValueError('DataDependentInitHook.num_batches must be an int >= 1, '
                             f'got {num_batches!r}')
        self.modules = tuple(modules)
        self.layer_types = tuple(LAYER_TYPES[t] for t in layer_types)
        self.num_batches = num_batches

    def _layers(self, model: nn.Module) -> List[Tuple[str, nn.Module]]:
        layers = []
        for prefix in self.modules:
            sub = getattr(model, prefix, None)
            if sub is None:
                raise ValueError(f'DataDependentInitHook.modules: the model '
                                 f'({type(model).__name__}) has no {prefix!r}')
            layers += [(f'{prefix}.{name}', m) for name, m in sub.named_modules()
                       if isinstance(m, self.layer_types)]
        return layers

    def _batches(self, runner) -> List[tuple]:
        model = runner.model
        batches = []
        for batch in runner.train_dataloader:
            data = model.data_preprocessor(batch, True)
            batches.append((data['inputs'], data['data_samples']))
            if len(batches) == self.num_batches:
                break
        return batches

    def before_train(self, runner) -> None:
        if runner._resume or runner._load_from:
            print_log(
                'DataDependentInitHook: weights come from a checkpoint '
                f'({runner._load_from or "resume"}), no data-dependent init',
                logger='current')
            return
        start = time.time()
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        layers = self._layers(model)
        was_training = model.training
        model.train()  # BatchNorm normalises with the batch statistics
        batches = self._batches(runner)
        for _, layer in layers:
            captured = []

            def hook(module, args, output):
                captured.append(output)
                raise _Captured

            handle = layer.register_forward_hook(hook)
            try:
                stats = None
                for inputs, samples in batches:
                    try:
                        with torch.no_grad():
                            model(inputs, samples, mode='loss')
                    except _Captured:
                        pass
                    if not captured:
                        raise RuntimeError(
                            f'DataDependentInitHook: layer {_name(layers, layer)} '
                            "did not run in the model's loss forward")
                    s = channel_stats(captured.pop())
                    stats = s if stats is None else stats + s
            finally:
                handle.remove()
            rescale_layer(layer, stats)
        # BatchNorm running statistics saw the unscaled layers: start them afresh.
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
        model.train(was_training)
        num_images = sum(inputs.size(0) for inputs, _ in batches)
        print_log(
            f'DataDependentInitHook: {len(layers)} layers of {self.modules} '
            f'rescaled to zero-mean, unit-variance outputs on {num_images} training '
            f'images per rank ({time.time() - start:.1f} s)',
            logger='current')


def _name(layers, layer) -> str:
    return next(name for name, m in layers if m is layer)
