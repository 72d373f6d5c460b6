"""Atomic, durable file writes: readers see the old file or the whole new one, never half.

Every file-system step of a store write goes through :func:`step`, so a test can stop a
writer at any of them (:data:`fault_hook`) and check that what is left resumes correctly.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "TMP_MARK",
    "atomic_write",
    "atomic_write_text",
    "fault_hook",
    "fsync_dir",
    "make_dir",
    "remove",
    "step",
]

# In the name of every temporary file, and in no other name of a store.
TMP_MARK = ".tmp-"
# Exclusive create that never follows a link: a symlink (or anything) planted at the
# temporary name makes the open fail instead of writing through it.
_TMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))  # fmt: skip

#: Test hook: ``fault_hook(step, path)`` runs before each file-system step of a store write
#: (``"mkdir"``, ``"open"``, ``"write"``, ``"fsync"``, ``"rename"``, ``"fsync-dir"``,
#: ``"unlink"``). A test makes it copy the store (what a kill at that instant leaves
#: behind) or raise (a full disk). ``None`` in normal use.
fault_hook: Callable[[str, Path], None] | None = None


def step(name: str, path: str | os.PathLike) -> None:
    """Announce a file-system step to :data:`fault_hook` (nothing happens without one)."""
    if fault_hook is not None:
        fault_hook(name, Path(path))


def _create_tmp(path: Path) -> tuple[int, Path]:
    """Open a new, unpredictable ``<name>.tmp-<pid>-<random>`` next to ``path``."""
    for _ in range(16):
        tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
        step("open", tmp)
        try:
            return os.open(tmp, _TMP_FLAGS, 0o666), tmp  # 0o666: the umask decides, as open()
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` via ``write(file)`` into a new temporary file, fsync, then rename.

    Readers see the old file or the complete new one, never a half-written one. The
    temporary file ``<name>.tmp-<pid>-<random>`` is created exclusively and without
    following links. On an exception it is removed; after a crash (SIGKILL) it stays
    behind with a name no reader looks at, and :meth:`Store.remove_tmp` deletes it on
    resume.
    """
    path = Path(path)
    fd, tmp = _create_tmp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            step("write", tmp)
            write(f)
            f.flush()
            step("fsync", tmp)
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        step("rename", path)
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
    step("fsync-dir", path)
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_dir(path: Path) -> None:
    """Create a directory unless it exists."""
    if not path.is_dir():
        step("mkdir", path)
        path.mkdir(exist_ok=True)


def remove(path: Path) -> None:
    """Delete a file if it exists."""
    step("unlink", path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
