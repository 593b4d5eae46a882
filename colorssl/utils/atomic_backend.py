"""``backend_args=dict(backend='atomic_local')``: mmengine's local file backend with
atomic writes.

mmengine writes checkpoints through a file backend (``get_file_backend(path,
backend_args).put(bytes, path)``); its ``LocalBackend`` opens the final name and writes
into it, so a crash mid-write leaves a truncated checkpoint. :class:`AtomicLocalBackend`
writes through :mod:`colorssl.utils.atomic_io` instead (temporary file in the same
folder, fsync, rename). Reading, listing and removing are LocalBackend's.

:class:`colorssl.engine.hooks.SafeCheckpointHook` selects it for local output folders;
it can also be named directly, e.g. in a stock ``CheckpointHook``::

    default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
"""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from .atomic_io import atomic_write_bytes, atomic_write_text

ATOMIC_LOCAL = 'atomic_local'


class AtomicLocalBackend(LocalBackend):
    """A :class:`mmengine.fileio.LocalBackend` whose ``put``/``put_text`` are atomic.

    Like LocalBackend, missing parent folders are created.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write ``obj`` to ``filepath``; a crash leaves the old file or the new."""
        atomic_write_bytes(filepath, obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write the text ``obj`` to ``filepath`` atomically."""
        atomic_write_text(filepath, obj, encoding=encoding)


# force=True: re-importing this module (e.g. importlib.reload) must not fail.
register_backend(ATOMIC_LOCAL, AtomicLocalBackend, force=True)
