"""tools/model_converters/colorization_to_backbone.py."""
import pytest
import torch
from transfer_helpers import (REPO_ROOT, TINY_RESNET, build_tiny_resnet, load_converter,
                              write_colorization_ckpt)

from colorssl.models.transfer import (CheckpointMismatchError,
                                      convert_colorization_backbone,
                                      load_colorization_checkpoint)


def test_writes_prefixed_converted_state_and_meta(tiny_resnet_ckpt, tmp_path, capsys):
    src = tiny_resnet_ckpt[0]
    dst = str(tmp_path / 'out' / 'r18_rgb.pth')
    assert load_converter().main([src, dst, '--input', 'rgb']) == 0
    out = torch.load(dst)
    meta = out['meta']['colorssl_converted']
    assert meta['input'] == 'rgb' and meta['offset_into'] == 'bn1.running_mean'
    assert (meta['l_cent'], meta['l_norm']) == (48., 2.)
    expected, _ = convert_colorization_backbone(
        load_colorization_checkpoint(src), 'rgb')
    assert list(out['state_dict']) == ['backbone.' + k for k in expected]
    for key, value in expected.items():
        torch.testing.assert_close(out['state_dict']['backbone.' + key], value)
    assert "init_cfg=dict(type='Pretrained'" in capsys.readouterr().out
    # a converted checkpoint is not a colorization checkpoint any more
    with pytest.raises(ValueError, match='already converted'):
        load_colorization_checkpoint(dst)


def test_gray_one_channel(tiny_resnet_ckpt, tmp_path):
    dst = str(tmp_path / 'gray.pth')
    load_converter().main([
        tiny_resnet_ckpt[0], dst, '--input', 'gray', '--mean', '122.4', '--std', '5.1'
    ])
    assert torch.load(dst)['state_dict']['backbone.conv1.weight'].shape == (8, 1, 7, 7)


def test_refuses_non_colorization_checkpoint(tmp_path):
    src = write_colorization_ckpt(
        tmp_path / 'cls.pth',
        build_tiny_resnet(1),
        TINY_RESNET,
        model_type='ImageClassifier')
    with pytest.raises(ValueError, match="expected 'Colorization'"):
        load_converter().main([src, str(tmp_path / 'x.pth')])


def test_check_config_against_a_deep_stem(tiny_resnet_ckpt, tmp_path):
    cfg = tmp_path / 'deep.py'
    cfg.write_text("default_scope = 'mmpretrain'\nmodel = dict(backbone=dict("
                   "type='ResNetV1c', depth=18, stem_channels=8, base_channels=8))\n")
    with pytest.raises(CheckpointMismatchError, match='deep_stem=False'):
        load_converter().main(
            [tiny_resnet_ckpt[0],
             str(tmp_path / 'x.pth'), '--check-config',
             str(cfg)])
    cfg.write_text("default_scope = 'mmpretrain'\nmodel = dict(backbone=dict("
                   "type='ResNet', depth=18, stem_channels=8, base_channels=8))\n")
    assert load_converter().main(
        [tiny_resnet_ckpt[0],
         str(tmp_path / 'x.pth'), '--check-config',
         str(cfg)]) == 0


def test_runs_as_a_script(tiny_resnet_ckpt, tmp_path):
    import os
    import subprocess
    import sys
    dst = tmp_path / 'script.pth'
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT),
                                    os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([
        sys.executable,
        str(REPO_ROOT / 'tools/model_converters/'
            'colorization_to_backbone.py'), tiny_resnet_ckpt[0],
        str(dst)
    ],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert dst.is_file()
