"""Helpers of the transfer tests: colorization checkpoints written the way mmengine's
CheckpointHook writes them (``state_dict`` + ``meta['cfg']`` = the config text).

A module of its own (not ``conftest``) so that test files import it by a name no other
test folder uses.
"""
from collections import OrderedDict

import torch
import torch.nn as nn


def randomize_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen))
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return module


def colorization_cfg_text(backbone_cfg: dict,
                          head_in_channels: int,
                          l_cent: float = 50.,
                          l_norm: float = 1.,
                          model_type: str = 'Colorization') -> str:
    from mmengine.config import Config
    cfg = Config(
        dict(
            default_scope='mmpretrain',
            model=dict(
                type=model_type,
                data_preprocessor=dict(
                    type='ColorizationDataPreprocessor', l_cent=l_cent, l_norm=l_norm),
                backbone=backbone_cfg,
                head=dict(type='ColorizationHead', in_channels=head_in_channels))))
    return cfg.pretty_text


def write_colorization_ckpt(path,
                            backbone: nn.Module,
                            backbone_cfg: dict,
                            l_cent: float = 50.,
                            l_norm: float = 1.,
                            model_type: str = 'Colorization',
                            with_cfg: bool = True,
                            with_head: bool = True,
                            head_in_channels: int = 8) -> str:
    state = OrderedDict(
        ('backbone.' + k, v.clone()) for k, v in backbone.state_dict().items())
    if with_head:
        state['head.conv_seg.weight'] = torch.randn(313, head_in_channels, 1, 1)
        state['head.conv_seg.bias'] = torch.zeros(313)
    meta = {}
    if with_cfg:
        meta['cfg'] = colorization_cfg_text(backbone_cfg, head_in_channels, l_cent,
                                            l_norm, model_type)
    torch.save({'state_dict': state, 'meta': meta}, str(path))
    return str(path)


TINY_RESNET = dict(
    type='ResNet',
    depth=18,
    in_channels=1,
    stem_channels=8,
    base_channels=8,
    out_indices=(3, ))


def build_tiny_resnet(in_channels: int = 1, **kwargs):
    from mmpretrain.models.backbones import ResNet
    cfg = dict(TINY_RESNET, in_channels=in_channels, **kwargs)
    cfg.pop('type')
    return ResNet(**cfg)


REPO_ROOT = __import__('pathlib').Path(__file__).resolve().parents[2]


def load_converter():
    """tools/model_converters/colorization_to_backbone.py as a module."""
    import importlib.util
    path = REPO_ROOT / 'tools' / 'model_converters' / 'colorization_to_backbone.py'
    spec = importlib.util.spec_from_file_location('colorization_to_backbone', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool
