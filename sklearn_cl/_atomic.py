"""Atomic file writes: a failed save never destroys the file it replaces.

The data goes to a temporary file in the target's directory, is flushed and
fsync'ed, and only then replaces the target with ``os.replace`` (atomic on
POSIX and Windows within one file system). A full disk, an exception, a
``KeyboardInterrupt`` or a killed process leave the old file as it was (and,
for a killed process, at worst a stray ``.NAME.*.tmp`` file next to it).
The standard library has no such helper; this is the usual recipe.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


def atomic_write(path: str | PathLike, content: bytes | Callable[[BinaryIO], None]):
    """Write ``content`` (bytes, or a function writing to a binary file) to
    ``path`` atomically; return ``path`` as a ``Path``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600): give it the old file's mode,
        # or the usual 0644 for a new file
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
    return path


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
