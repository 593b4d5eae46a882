"""checkpoint_problem: None for a checkpoint that loads, a reason in words otherwise."""
import zipfile

import numpy as np
import pytest
import torch

import colorssl  # noqa: F401  (weights-only allowlist for mmengine checkpoints)
from colorssl.utils.checkpoint_check import checkpoint_problem


@pytest.fixture
def good_ckpt(tmp_path):
    path = tmp_path / 'iter_2.pth'
    torch.save(
        {
            'state_dict': {
                'w': torch.randn(64, 64)
            },
            'meta': {
                'iter': 2,
                'seed': np.int64(3)
            }
        }, path)
    return path


def test_good_checkpoint(good_ckpt):
    assert checkpoint_problem(str(good_ckpt)) is None


def test_missing_and_empty(tmp_path):
    assert checkpoint_problem(str(tmp_path / 'nope.pth')) == 'file not found'
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert checkpoint_problem(str(tmp_path / 'empty.pth')) == 'empty file (0 bytes)'
    assert checkpoint_problem(str(tmp_path)) == 'not a file'


def test_truncated(good_ckpt):
    data = good_ckpt.read_bytes()
    good_ckpt.write_bytes(data[:len(data) // 2])
    problem = checkpoint_problem(str(good_ckpt))
    assert problem.startswith('not a complete checkpoint')
    assert f'{len(data) // 2} bytes' in problem


def test_flipped_byte_in_tensor_data(good_ckpt):
    """A damaged tensor record keeps the zip readable; its CRC-32 catches it."""
    with zipfile.ZipFile(good_ckpt) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)  # the 64x64 tensor
    data = bytearray(good_ckpt.read_bytes())
    # the member's data starts after its 30-byte local header, name and extra field
    extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30],
                               'little')
    start = info.header_offset + 30 + len(info.filename.encode()) + extra_len
    data[start + 100] ^= 0xFF
    good_ckpt.write_bytes(bytes(data))
    problem = checkpoint_problem(str(good_ckpt))
    assert problem is not None and 'CRC-32' in problem and info.filename in problem


def test_code_pickle_is_refused(tmp_path):
    path = tmp_path / 'code.pth'
    torch.save({'f': print}, path)  # a global the weights-only unpickler refuses
    problem = checkpoint_problem(str(path))
    assert problem.startswith('does not load with torch.load(weights_only=True)')
