"""Atomic writes leave the old file or the new one, never a partial file."""
import os
import stat

import pytest
import torch

from colorssl.utils import atomic_io
from colorssl.utils.atomic_io import (atomic_torch_save, atomic_write_bytes,
                                      atomic_write_text)


def _leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith('.tmp'))


def test_write_bytes_creates_and_replaces(tmp_path):
    path = tmp_path / 'sub' / 'file.bin'
    atomic_write_bytes(path, b'first')
    assert path.read_bytes() == b'first'
    atomic_write_bytes(str(path), bytearray(b'second, longer'))
    assert path.read_bytes() == b'second, longer'
    assert _leftovers(path.parent) == []


def test_write_text(tmp_path):
    path = tmp_path / 'last_checkpoint'
    atomic_write_text(path, '/a/b/iter_2.pth')
    assert path.read_text() == '/a/b/iter_2.pth'


def test_file_mode_follows_umask(tmp_path):
    path = tmp_path / 'f'
    old = os.umask(0o022)
    try:
        atomic_write_bytes(path, b'x')
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_failed_replace_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.pth'
    path.write_bytes(b'old content')

    def broken_replace(src, dst):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(atomic_io.os, 'replace', broken_replace)
    with pytest.raises(OSError, match='No space left'):
        atomic_write_bytes(path, b'new content')
    assert path.read_bytes() == b'old content'
    assert _leftovers(tmp_path) == []


def test_interrupted_write_keeps_old_file(tmp_path, monkeypatch):
    """A crash while writing the bytes (here: KeyboardInterrupt) changes nothing."""
    path = tmp_path / 'ckpt.pth'
    path.write_bytes(b'old content')
    real_fsync = os.fsync

    def interrupted_fsync(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_io.os, 'fsync', interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b'new content')
    monkeypatch.setattr(atomic_io.os, 'fsync', real_fsync)
    assert path.read_bytes() == b'old content'
    assert _leftovers(tmp_path) == []


def test_torch_save_round_trip(tmp_path):
    path = tmp_path / 'prior.pth'
    obj = {'w': torch.arange(6.).reshape(2, 3), 'meta': {'k': 3}}
    atomic_torch_save(obj, path)
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded['w'], obj['w'])
    assert loaded['meta'] == {'k': 3}
    assert _leftovers(tmp_path) == []


def test_torch_save_unpicklable_leaves_nothing(tmp_path):
    path = tmp_path / 'bad.pth'
    with pytest.raises((AttributeError, TypeError, RuntimeError)):
        atomic_torch_save({'f': lambda x: x}, path)
    assert not path.exists()
    assert _leftovers(tmp_path) == []
