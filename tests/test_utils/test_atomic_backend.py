"""The 'atomic_local' mmengine file backend writes through temporary files."""
from mmengine.fileio import LocalBackend, get_file_backend

import colorssl  # noqa: F401  (registers the backend)
from colorssl.utils import atomic_io
from colorssl.utils.atomic_backend import AtomicLocalBackend


def test_backend_is_registered_and_writes(tmp_path, monkeypatch):
    backend = get_file_backend(str(tmp_path), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend) and isinstance(backend, LocalBackend)
    replaced = []
    real_replace = atomic_io.os.replace

    def recording_replace(src, dst):
        replaced.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(atomic_io.os, 'replace', recording_replace)
    backend.put(b'\x00\x01', tmp_path / 'sub' / 'a.bin')
    backend.put_text('hello', str(tmp_path / 'b.txt'))
    assert (tmp_path / 'sub' / 'a.bin').read_bytes() == b'\x00\x01'
    assert backend.get_text(str(tmp_path / 'b.txt')) == 'hello'
    expected = [str(tmp_path / 'sub' / 'a.bin'), str(tmp_path / 'b.txt')]
    assert [dst for _, dst in replaced] == expected
    # the local prefix itself still maps to mmengine's plain backend
    assert type(get_file_backend(str(tmp_path))) is LocalBackend
