"""tools/visualize_negative_cams.py on a random-weight cifar10-mini model."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'hnc', 'hnc-kd_resnet18_1xb128-10e_cifar10mini.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'visualize_negative_cams', osp.join(ROOT, 'tools',
                                            'visualize_negative_cams.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return _load_tool()


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        path = tmp_path / f'img{i}.png'
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_draws_and_matches_model(tool, images, tmp_path, capsys):
    out = tmp_path / 'cams.png'
    tool.main([CONFIG, 'none', *images, '--num-neg', '3', '--out', str(out)])
    assert out.is_file() and out.stat().st_size > 0
    assert 'negatives:' in capsys.readouterr().out

    torch.manual_seed(0)
    cfg, model = tool.load_model(CONFIG, None, 'cpu')
    rows = tool.compute_rows(cfg, model, images[:1], target='7', num_neg=3)
    row = rows[0]
    assert row['classes'][0] == 7 and 7 not in row['classes'][1:]
    assert row['cams'].shape == (4, 32, 32)
    # the drawn logits are the model's logits, negatives in decreasing order
    data = model.data_preprocessor(
        dict(inputs=[
            torch.from_numpy(np.asarray(Image.open(images[0]))[
                ..., ::-1].copy()).permute(2, 0, 1)
        ]), False)
    with torch.no_grad():
        logits = model(data['inputs'])[0]
    np.testing.assert_allclose(row['logits'], logits[row['classes']].numpy(), atol=1e-4)
    assert list(row['logits'][1:]) == sorted(row['logits'][1:], reverse=True)
    others = [c for c in range(10) if c != 7]
    assert row['classes'][1] == max(others, key=lambda c: logits[c])


def test_bad_target(tool, images):
    with pytest.raises(ValueError, match='--target'):
        tool.main([CONFIG, 'none', images[0], '--target', 'zebra'])
    with pytest.raises(FileNotFoundError, match='checkpoint'):
        tool.main([CONFIG, 'missing.pth', images[0]])


def test_target_from_folder(tool, tmp_path):
    folder = tmp_path / '3'  # class names are '0'..'9' without a checkpoint
    folder.mkdir()
    path = folder / 'a.png'
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path)
    cfg, model = tool.load_model(CONFIG, None, 'cpu')
    row = tool.compute_rows(cfg, model, [str(path)], target='folder')[0]
    assert row['classes'][0] == 3
    other = tmp_path / 'zebra'
    other.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(other / 'b.png')
    with pytest.raises(ValueError, match='not a class name'):
        tool.compute_rows(cfg, model, [str(other / 'b.png')], target='folder')
