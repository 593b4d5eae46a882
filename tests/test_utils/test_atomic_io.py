"""Atomic writes leave the old file or the new one, never a partial file."""
import os
import stat

import pytest

from colorssl.utils import atomic_io
from colorssl.utils.atomic_io import atomic_write_bytes


def _leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith('.tmp'))


def test_write_bytes_creates_and_replaces(tmp_path):
    path = tmp_path / 'sub' / 'file.bin'
    atomic_write_bytes(path, b'first')
    assert path.read_bytes() == b'first'
    atomic_write_bytes(str(path), bytearray(b'second, longer'))
    assert path.read_bytes() == b'second, longer'
    assert _leftovers(path.parent) == []


def test_file_is_readable_by_all(tmp_path):
    path = tmp_path / 'f'
    atomic_write_bytes(path, b'x')
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
