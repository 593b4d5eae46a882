"""Key prefixes: one helper for all transfer modules, DDP-saved checkpoints included."""
from collections import OrderedDict

import pytest
import torch
from transfer_helpers import write_colorization_ckpt

from colorssl.models.transfer import (checkpoint_tensors, load_colorization_checkpoint,
                                      load_pretrained_state, strip_prefix)


def test_strip_prefix_selects():
    a, b, c = torch.zeros(1), torch.ones(2), torch.full((3, ), 2.)
    state = OrderedDict([('backbone.conv1.weight', a), ('head.fc.bias', b),
                         ('backbone.bn1.bias', c)])
    selected = strip_prefix(state, 'backbone')  # the final dot is added
    assert list(selected) == ['conv1.weight', 'bn1.bias']
    assert selected['conv1.weight'] is a and selected['bn1.bias'] is c
    # a prefix must match whole components: 'back' is not 'backbone.'
    with pytest.raises(
            ValueError,
            match=r"x.pth: prefix 'back' matches no key; "
            r"its keys start with \['backbone.', 'head.'\]"):
        strip_prefix(state, 'back', 'x.pth')


def test_checkpoint_tensors_unwraps_ddp():
    t = torch.arange(3.)
    wrapped = {'state_dict': {'module.backbone.w': t, 'module.head.b': t}, 'meta': {}}
    assert list(checkpoint_tensors(wrapped)) == ['backbone.w', 'head.b']
    bare = {'backbone.w': t, 'note': 'not a tensor'}
    assert list(checkpoint_tensors(bare)) == ['backbone.w']


def test_ddp_saved_checkpoints_load_like_plain_ones(tiny_resnet_ckpt, tmp_path):
    """Both loaders (ColorizationPretrained's and the Pretrained check's) give the
    same tensors for a checkpoint saved from a DDP-wrapped model."""
    path, _ = tiny_resnet_ckpt
    ckpt = torch.load(path)
    ckpt['state_dict'] = OrderedDict(
        ('module.' + k, v) for k, v in ckpt['state_dict'].items())
    ddp_path = str(tmp_path / 'ddp.pth')
    torch.save(ckpt, ddp_path)

    plain = load_colorization_checkpoint(path)
    ddp = load_colorization_checkpoint(ddp_path)
    assert list(ddp.state_dict) == list(plain.state_dict)
    for key, value in plain.state_dict.items():
        torch.testing.assert_close(ddp.state_dict[key], value)
    assert (ddp.l_cent, ddp.l_norm) == (plain.l_cent, plain.l_norm) == (48., 2.)

    for prefix in ('backbone.', 'backbone'):
        state = load_pretrained_state(ddp_path, prefix)
        assert list(state) == list(plain.state_dict)


def test_prefix_without_match_lists_groups(tmp_path):
    path = str(tmp_path / 'c.pth')
    torch.save({'state_dict': {'module.encoder.w': torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match=r"prefix 'backbone'.*\['encoder\.'\]"):
        load_pretrained_state(path, 'backbone')


def test_writer_and_reader_agree(tmp_path):
    """The helpers' writer's keys come back without their prefix, in order."""
    from transfer_helpers import TINY_RESNET, build_tiny_resnet
    backbone = build_tiny_resnet(1)
    path = write_colorization_ckpt(
        tmp_path / 'w.pth', backbone, TINY_RESNET, head_in_channels=64)
    read = load_colorization_checkpoint(path)
    assert list(read.state_dict) == list(backbone.state_dict())
