"""Fixtures of the transfer tests (helpers: transfer_helpers.py)."""
import pytest
import torch
from transfer_helpers import (TINY_RESNET, build_tiny_resnet, randomize_norms,
                              write_colorization_ckpt)


@pytest.fixture
def tiny_resnet_ckpt(tmp_path):
    """(path, L backbone in eval mode) of a ResNet-18 (8 base channels) colorization
    checkpoint trained on (L - 48) / 2 (non-default scaling on purpose)."""
    torch.manual_seed(0)
    backbone = randomize_norms(build_tiny_resnet(1))
    backbone.eval()  # mmpretrain's ResNet.train() returns None
    path = write_colorization_ckpt(
        tmp_path / 'color_r18.pth',
        backbone,
        TINY_RESNET,
        l_cent=48.,
        l_norm=2.,
        head_in_channels=64)
    return path, backbone
