"""Atomic, durable file writes: readers see the old file or the whole new one, never half."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_text", "fsync_dir"]


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` via ``write(file)`` into ``<name>.tmp-<pid>``, fsync, then rename.

    Readers see the old file or the complete new one, never a half-written one. On an
    exception the temporary file is removed; after a crash (SIGKILL) it stays behind with
    a name no reader looks at, and :meth:`Store.remove_tmp` deletes it on resume.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write` of a UTF-8 text."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def fsync_dir(path: Path) -> None:
    """Make the renames in a directory durable on power loss (where directories open)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
