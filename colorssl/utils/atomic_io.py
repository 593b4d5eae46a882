"""Write files so that a crash leaves either the old file or the new one.

A plain ``open(path, 'wb').write(data)`` that is interrupted (SIGKILL, power loss, a
full disk) leaves a truncated file under the final name; a later ``torch.load`` of it
fails with a zip error. The functions here write to a temporary file in the same
folder, flush it to disk and then :func:`os.replace` it into place: a rename inside one
file system is atomic, so readers see the whole old file or the whole new one.
"""
import io
import os
import os.path as osp
import tempfile
from typing import Union

import torch

PathLike = Union[str, os.PathLike]


def _fsync_dir(folder: str) -> None:
    """Flush the directory entry of a rename to disk (best effort, POSIX only)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a temporary file ``.<name>.<random>.tmp`` in the folder of
    ``path`` (created if missing), which is flushed and fsync'ed and then renamed over
    ``path``. On any failure the temporary file is removed and the exception is
    raised; ``path`` keeps its previous content (or stays absent).

    Args:
        path: Destination file.
        data: The full content (``bytes``, ``bytearray`` or ``memoryview``).
    """
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file with mode 0600; give it the mode a plain open()
        # would (0666 minus the umask) so checkpoints stay readable by the group.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def atomic_write_text(path: PathLike, text: str, encoding: str = 'utf-8') -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_torch_save(obj, path: PathLike) -> None:
    """``torch.save(obj, path)`` that never leaves a half-written file.

    The object is serialised in memory first, so a failure while pickling leaves
    nothing on disk either.

    Args:
        obj: Anything :func:`torch.save` accepts (state dicts, tensors, dicts).
        path: Destination file.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getbuffer())
