"""ColorizationInferencer on a tiny colorization model (tests/data/configs): a folder
in, arrays out, equal to ``model.colorize`` on the same images; files written;
unreadable inputs skipped and reported; model loading errors."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from colorssl.apis import ColorizationInferencer, load_model
from colorssl.color import lab_to_rgb, rgb8_to_lab
from colorssl.datasets.transforms.loading import BadImageError

CONFIGS = Path(__file__).resolve().parents[1] / 'data' / 'configs'
CONFIG = str(CONFIGS / 'tiny_colorization_imagefolder.py')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    _, model = load_model(CONFIG)
    model.init_weights()
    path = tmp_path_factory.mktemp('model') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return str(path)


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """Five readable images (network sizes 32x32 and 32x48 at size=32; one gray, in
    a sub-folder) and one unreadable file."""
    root = tmp_path_factory.mktemp('photos')
    rng = np.random.default_rng(0)
    (root / 'sub').mkdir()
    shapes = {
        'a.png': (32, 32, 3),
        'b.jpg': (32, 48, 3),
        'c.png': (32, 32, 3),
        'd.png': (48, 32, 3),
        'sub/gray.png': (32, 32)
    }
    for name, shape in shapes.items():
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / name)
    (root / 'broken.jpg').write_bytes(b'\xff\xd8\xff not a JPEG')
    return root


def _reference(model, path):
    """``model.colorize`` on the image as PIL reads it; its L joined to that ab."""
    rgb = np.array(Image.open(path).convert('RGB'))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    ab = model.colorize(x)
    lab = torch.cat([rgb8_to_lab(x)[:, :1], ab], 1)
    colorized = (lab_to_rgb(lab)[0].permute(1, 2, 0) * 255).round().byte().numpy()
    return rgb, ab[0].numpy(), colorized


def test_folder_in_arrays_out(folder, checkpoint, tmp_path):
    inferencer = ColorizationInferencer(CONFIG, pretrained=checkpoint, size=32)
    out = tmp_path / 'out'
    result = inferencer(str(folder), batch_size=2, out_dir=str(out), side_by_side=True)
    names = ['a.png', 'b.jpg', 'c.png', 'd.png', 'sub/gray.png']
    inputs = [p['input'] for p in result['predictions']]
    assert inputs == [str(folder / n) for n in names]
    (bad, reason), = result['skipped']
    assert bad == str(folder / 'broken.jpg') and 'broken.jpg' in reason

    _, model = load_model(CONFIG, checkpoint)
    for name, pred in zip(names, result['predictions']):
        rgb, ab, colorized = _reference(model, folder / name)
        assert pred['pred_ab'].shape == ab.shape == (2, *rgb.shape[:2])
        np.testing.assert_allclose(pred['pred_ab'], ab, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(pred['colorized'], colorized, atol=1)
        stem = str(out / Path(name).with_suffix(''))
        assert pred['out_files'] == [stem + '.png', stem + '_side_by_side.png']
        np.testing.assert_array_equal(
            np.asarray(Image.open(stem + '.png')), pred['colorized'])
        side = np.asarray(Image.open(stem + '_side_by_side.png'))
        panels = 2 if name.startswith('sub/gray') else 3  # + original if colour
        assert side.shape == (rgb.shape[0], rgb.shape[1] * panels, 3)

    # arrays in, same arrays out; nothing written without out_dir
    arrays = [np.asarray(Image.open(folder / n)) for n in names]
    again = inferencer(arrays, batch_size=3, return_arrays=True)
    inputs = [p['input'] for p in again['predictions']]
    assert inputs == [f'array_{i}' for i in range(5)]
    for first, second in zip(result['predictions'], again['predictions']):
        np.testing.assert_allclose(second['pred_ab'], first['pred_ab'], atol=1e-4)
        assert second['out_files'] == []
    assert not inferencer(
        arrays[:1], return_arrays=False)['predictions'][0].get('colorized')


def test_raise_and_loading_errors(folder, checkpoint, tmp_path):
    inferencer = ColorizationInferencer(
        Config.fromfile(CONFIG), pretrained=checkpoint, size=32)
    with pytest.raises(BadImageError, match='broken.jpg'):
        inferencer(str(folder), on_error='raise')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        ColorizationInferencer(CONFIG, pretrained=str(tmp_path / 'nope.pth'))
    wrong = tmp_path / 'wrong.pth'
    torch.save(dict(state_dict={'backbone.x': torch.zeros(1)}), wrong)
    with pytest.raises(ValueError, match='does not fit'):
        ColorizationInferencer(CONFIG, pretrained=str(wrong))
    with pytest.raises(ValueError, match='colorize'):
        ColorizationInferencer(str(CONFIGS / 'tiny_resnet_imagefolder.py'))
    with pytest.raises(ValueError, match='multiple of 8'):
        ColorizationInferencer(CONFIG, pretrained=checkpoint, size=30)


def test_model_name_from_the_model_index():
    """A name of model-index.yml builds that config's model; an unknown name is an
    error listing the colorization models."""
    from colorssl.apis import config_of
    name = 'colorization_colornet-c16_1xb32-2k_cifar10mini'
    path = config_of(name)
    assert Path(path).name == name + '.py' and Path(path).is_file()
    inferencer = ColorizationInferencer(name)
    assert callable(inferencer.model.colorize)
    with pytest.raises(FileNotFoundError, match=f'neither a config.*{name}'):
        config_of('colorization_no_such_model')
