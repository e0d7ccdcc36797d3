"""Atomic file writes: a failed save never destroys the file it replaces.

The data goes to a temporary file in the target's directory, is flushed and
fsync'ed, and only then replaces the target with ``os.replace`` (atomic on
POSIX and Windows within one file system). A full disk, an exception, a
``KeyboardInterrupt`` or a killed process leave the old file as it was (and,
for a killed process, at worst a stray ``.NAME.*.tmp`` file next to it).
The standard library has no such helper; this is the usual recipe.

A symbolic link is written through: the file it points to is replaced
and the link stays, as with ``open(path, "wb")``.

The temporary file is created with ``os.open(..., 0o666)`` rather than
``tempfile.mkstemp``, so that the process's umask applies to a new file as
it does to ``open(path, "wb")`` (mkstemp's 0600 would have to be widened
by hand, and a fixed 0644 would make files world-readable under a private
umask such as 077); a replaced file keeps its own mode.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


def atomic_write(path: str | PathLike, content: bytes | Callable[[BinaryIO], None]):
    """Write ``content`` (bytes, or a function writing to a binary file) to
    ``path`` atomically; return ``path`` as a ``Path``."""
    path = _target(Path(path))
    directory = path.parent
    fd, tmp = _create_temporary(directory, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():  # a replaced file keeps its mode
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
    return path


def _target(path: Path) -> Path:
    """The file to replace: a symbolic link's target (as ``open(path, "wb")``
    writes through the link, which stays), checked for the mistakes whose
    errors would otherwise name the temporary file."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a directory; pass the path of a file in it, such as "
            f"{path / 'model.skops'}."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"The folder {path.parent} does not exist; create it first (e.g. "
            "with Path(folder).mkdir(parents=True))."
        )
    return path


def _create_temporary(directory: Path, name: str) -> tuple[int, str]:
    """A new ``.NAME.*.tmp`` file in ``directory`` (NAME: the first 32
    characters of ``name``), opened for writing, with the mode a new file
    gets (0666 less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    # 96 random bits: O_EXCL refuses the (astronomically unlikely) taken name;
    # the name shortened to 32 characters (128 bytes at most), so that a
    # target name near the file system's limit (255 bytes) leaves room
    tmp = str(directory / f".{name[:32]}.{secrets.token_hex(12)}.tmp")
    return os.open(tmp, flags, 0o666), tmp


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
