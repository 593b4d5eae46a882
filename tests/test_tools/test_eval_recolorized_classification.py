"""tools/eval_recolorized_classification.py: the image variants against skimage, and a
run on a tiny classifier and colorizer."""
import importlib.util
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab
from tool_helpers import REPO_ROOT, make_image_folder

_spec = importlib.util.spec_from_file_location(
    'eval_recolorized_classification',
    REPO_ROOT / 'tools' / 'eval_recolorized_classification.py')
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


class ConstantColorizer:
    """colorize() -> the same ab everywhere; records what it saw."""

    def __init__(self, ab):
        self.ab = torch.tensor(ab, dtype=torch.float32)
        self.seen = []
        self.data_preprocessor = SimpleNamespace(channel_order='rgb')

    def colorize(self, images, temperature=None):
        self.seen.append(images.clone())
        n, _, h, w = images.shape
        return self.ab[None, :, None, None].expand(n, 2, h, w)


def lab_of(images_uint8, order):
    rgb = images_uint8.numpy().transpose(0, 2, 3, 1) / 255.
    if order == 'bgr':
        rgb = rgb[..., ::-1]
    return np.stack([rgb2lab(x) for x in rgb])


@pytest.mark.parametrize('order', ['rgb', 'bgr'])
def test_variants_keep_l_and_set_ab(order):
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(2, 3, 6, 5, generator=g) * 120 + 60).round().to(torch.uint8)
    colorizer = ConstantColorizer((12., -9.))
    out = tool.variants(images, order, colorizer, 'rgb', torch.tensor([5., 7.]), None)
    assert set(out) == {'gray', 'recolorized', 'mean', 'color'}
    assert torch.equal(out['color'], images)
    original = lab_of(images, order)
    for name, ab in (('gray', (0, 0)), ('recolorized', (12, -9)), ('mean', (5, 7))):
        lab = lab_of(out[name], order)
        np.testing.assert_allclose(lab[..., 0], original[..., 0], atol=1.0)
        np.testing.assert_allclose(lab[..., 1:].reshape(-1, 2).mean(0), ab, atol=1.0)
    # the colorizer saw the gray image, in its own channel order (rgb)
    seen = colorizer.seen[0].numpy().astype(int)
    assert np.abs(seen[:, 0] - seen[:, 1]).max() <= 1
    np.testing.assert_allclose(
        lab_of(colorizer.seen[0], 'rgb')[..., 0], original[..., 0], atol=1.0)


@pytest.fixture
def tiny_colorizer(tmp_path):
    """(config, checkpoint) of an untrained colorization model."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import colorssl  # noqa: F401

    config = tmp_path / 'color.py'
    config.write_text(
        "custom_imports = dict(imports=['colorssl'], allow_failed_imports=False)\n"
        "model = dict(type='Colorization', backbone=dict(type='ColorizationNet', "
        "base_channels=4), head=dict(type='ColorizationHead', in_channels=16, "
        'prior=None))\n')
    torch.manual_seed(0)
    colorizer = MODELS.build(Config.fromfile(str(config)).model)
    ckpt = tmp_path / 'color.pth'
    torch.save(dict(state_dict=colorizer.state_dict(), meta={}), ckpt)
    return str(config), str(ckpt)


def test_tiny_run(tmp_path, tiny_colorizer):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import colorssl  # noqa: F401

    images = make_image_folder(tmp_path / 'images', n_train=1, n_val=3)
    cls_config = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny_resnet_imagefolder.py'
    torch.manual_seed(0)
    classifier = MODELS.build(Config.fromfile(str(cls_config)).model)
    cls_ckpt = tmp_path / 'cls.pth'
    torch.save(dict(state_dict=classifier.state_dict(), meta={}), cls_ckpt)
    out = tmp_path / 'acc.json'
    argv = [
        str(cls_config),
        str(cls_ckpt), *tiny_colorizer, '--mean-ab', '0', '0', '--max-images', '5',
        '--out',
        str(out), '--cls-cfg-options', f'test_dataloader.dataset.data_root={images}'
    ]
    assert tool.main(argv) == 0
    result = json.loads(out.read_text())
    assert result['num_images'] == 5
    assert set(result) == {'gray', 'recolorized', 'mean', 'color', 'num_images'}
    assert all(0 <= result[k] <= 100 for k in tool.VARIANTS)
    assert result['mean'] == result['gray']  # mean ab (0, 0) is the gray image
    assert tool.main(argv[:1] + [str(tmp_path / 'none.pth')] + argv[2:]) == 1


def test_classifier_gets_the_configs_data_preprocessor(tmp_path):
    """mmpretrain configs set ``data_preprocessor`` at the top level; the runner
    moves it into the model, and so must the tool (else the classifier sees
    unnormalised pixels). Reference: the config's mean/std with numpy."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    import colorssl  # noqa: F401

    cls_config = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tiny_resnet_imagefolder.py'
    cfg = Config.fromfile(str(cls_config))
    ckpt = tmp_path / 'cls.pth'
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict(), meta={}), ckpt)
    model = tool.load_model(str(cls_config), str(ckpt), 'cpu')[1]
    image = torch.randint(
        0,
        256, (3, 8, 8),
        generator=torch.Generator().manual_seed(0),
        dtype=torch.uint8)
    got = model.data_preprocessor(
        dict(inputs=[image], data_samples=[DataSample()]), False)['inputs'][0]
    pre = cfg.data_preprocessor
    x = image.numpy().astype(np.float64)
    if pre.get('to_rgb'):
        x = x[::-1]
    mean, std = np.array(pre.mean)[:, None, None], np.array(pre.std)[:, None, None]
    np.testing.assert_allclose(got.numpy(), (x - mean) / std, rtol=1e-5, atol=1e-5)


def test_color_accuracy_is_the_test_tools(trained_run, image_root, tmp_path,
                                          tiny_colorizer):
    """The 'color' variant is the classifier on its own images: the same top-1 as
    tools/test.py on the same checkpoint."""
    import re
    import sys

    from tool_helpers import MAX_ITERS, TINY_CFG, data_options, run_tool

    ckpt = trained_run['work_dir'] / f'iter_{MAX_ITERS}.pth'
    proc = run_tool([
        sys.executable, REPO_ROOT / 'tools' / 'test.py', TINY_CFG, ckpt, '--work-dir',
        tmp_path / 'work', *data_options(image_root)
    ],
                    cwd=tmp_path)
    reported = re.findall(r'Iter\(test\).*accuracy/top1: ([\d.]+)', proc.stdout)
    assert len(reported) == 1, proc.stdout[-3000:]
    out = tmp_path / 'acc.json'
    assert tool.main([
        str(TINY_CFG),
        str(ckpt), *tiny_colorizer, '--out',
        str(out), '--cls-cfg-options', f'test_dataloader.dataset.data_root={image_root}'
    ]) == 0
    assert json.loads(out.read_text())['color'] == pytest.approx(float(reported[0]))
