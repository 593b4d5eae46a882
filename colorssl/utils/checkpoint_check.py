"""Tell whether a checkpoint file loads, and if not, why, before a run relies on it.

A training checkpoint cut short by a crash or a full disk makes ``torch.load`` fail with
``PytorchStreamReader failed reading zip archive: failed finding central directory``,
which names neither the file nor the cause. :func:`checkpoint_problem` answers in words
("empty file", "truncated: no zip end record", "CRC mismatch in ...") and returns
``None`` for a file that loads the way mmengine loads it (``torch.load`` with torch's
default weights-only unpickler and colorssl's allowlist, see
:mod:`colorssl.utils.checkpoint_compat`).
"""
import os.path as osp
import zipfile
from typing import Optional

import torch


def _crc_written() -> bool:
    """Whether this torch writes CRC-32 checksums into its zip checkpoints."""
    get_options = getattr(torch.serialization, 'get_crc32_options', None)
    return True if get_options is None else bool(get_options())


def _first_line(err: BaseException) -> str:
    """``Type: first sentence of the message`` (torch's messages run on)."""
    lines = str(err).strip().splitlines()
    text = lines[0].split('. ', 1)[0] if lines else ''
    text = text if len(text) <= 200 else text[:197] + '...'
    return f'{type(err).__name__}: {text}'.rstrip(': ')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be loaded as a checkpoint, or ``None`` if it loads.

    Checks, in order: the file exists and is not empty; a zip checkpoint (torch >= 1.6)
    has its end record and every member passes its CRC-32 check (this reads the whole
    file once, without holding it in memory); finally the pickle is loaded with
    ``torch.load(weights_only=True)`` (memory-mapped, so tensors are not read again).

    Args:
        path (str): A local checkpoint file.

    Returns:
        str | None: A one-line reason, e.g. ``'empty file (0 bytes)'``.
    """
    if not osp.exists(path):
        return 'file not found'
    if not osp.isfile(path):
        return 'not a file'
    size = osp.getsize(path)
    if size == 0:
        return 'empty file (0 bytes)'
    is_zip = zipfile.is_zipfile(path)
    if is_zip and _crc_written():
        try:
            with zipfile.ZipFile(path) as archive:
                bad_member = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            return f'damaged zip archive ({size} bytes): {_first_line(err)}'
        if bad_member is not None:
            return f'damaged zip archive: CRC-32 mismatch in member {bad_member!r}'
    try:
        torch.load(path, map_location='cpu', weights_only=True, mmap=is_zip)
    except Exception as err:  # noqa: BLE001  (any failure is the answer)
        reason = _first_line(err)
        if not is_zip:
            return (f'not a complete checkpoint ({size} bytes, no zip end record: '
                    f'cut short by an interrupted write?): {reason}')
        return f'does not load with torch.load(weights_only=True): {reason}'
    return None
