"""``sweep.lock``: one writer per store at a time, and sane take-over after a crash."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import StoreLockedError
from .files import remove, step
from .provenance import now
from .schema import LOCK

try:  # POSIX only; without it lock take-over is merely less race-proof
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["StoreLock"]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """``(state, start_time_ticks)`` of a process from /proc, or None if unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the command name may contain spaces
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int, start_time: int | None) -> bool:
    """Whether ``pid`` runs on this host (and is the same process, if its start is known)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    stat = _proc_stat(pid)
    if stat is not None:
        state, started = stat
        if state in ("Z", "X"):  # killed but not yet reaped by its parent
            return False
        if start_time is not None and started != start_time:  # the pid was reused
            return False
    return True


@contextlib.contextmanager
def _dir_flock(directory: Path) -> Iterator[None]:
    """Serialise lock take-overs between processes (flock on the directory, if possible)."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


class StoreLock:
    """``sweep.lock`` in a store directory: one writer at a time, survives crashes sanely.

    Created with ``O_CREAT | O_EXCL`` and holding the owner's pid, host and process start
    time. If the file exists and its pid is alive on this host, :meth:`acquire` refuses
    (:class:`StoreLockedError`, naming the pid and what to do); a lock from another host is
    refused too (its pid cannot be checked from here). A lock whose process is gone (or
    whose pid now belongs to a different process) is stale and taken over; the previous
    owner is then in :attr:`stale`. Use as a context manager; released on exit, including
    on Ctrl-C.

    Parameters
    ----------
    directory : path
        The store directory (must exist).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.path = Path(directory) / LOCK
        self.stale: dict[str, Any] | None = None
        self._owned = False

    def _read(self) -> dict[str, Any]:
        try:
            d = json.loads(self.path.read_text())
            return d if isinstance(d, dict) else {}
        except (OSError, ValueError):
            return {}  # empty or garbled: a crash between create and write

    def _refusal(self, owner: Mapping[str, Any]) -> StoreLockedError:
        pid, host = owner.get("pid"), owner.get("host")
        since = f", started {owner['started']}" if owner.get("started") else ""
        d = self.path.parent
        if host != socket.gethostname():
            what = (
                f"its pid cannot be checked from {socket.gethostname()}. If no sweep runs there "
                f"any more, delete {self.path} and run the command again"
            )
        else:
            what = (
                f"wait for it to finish, or stop it (kill {pid}) and run the same command again "
                f"to resume. If you are sure no sweep writes there, delete {self.path}"
            )
        return StoreLockedError(
            f"store {d} is in use by another sweep (pid {pid} on {host}{since}): {what}"
        )

    def acquire(self) -> StoreLock:
        """Take the lock or raise :class:`StoreLockedError`; returns ``self``."""
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "start_time": (_proc_stat(os.getpid()) or (None, None))[1],
            "started": now(),
        }
        with _dir_flock(self.path.parent):
            for _ in range(3):
                step("open", self.path)
                try:
                    fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    owner = self._read()
                    pid = owner.get("pid")
                    same_host = owner.get("host") == me["host"]
                    if isinstance(pid, int) and (
                        not same_host or _pid_alive(pid, owner.get("start_time"))
                    ):
                        raise self._refusal(owner) from None
                    self.stale = owner or {"pid": None, "host": None}
                    remove(self.path)
                    continue
                try:
                    with os.fdopen(fd, "w") as f:
                        step("write", self.path)
                        json.dump(me, f)
                        f.flush()
                        step("fsync", self.path)
                        os.fsync(f.fileno())
                except BaseException:  # e.g. a full disk: leave no half-made lock behind
                    remove(self.path)
                    raise
                self._owned = True
                return self
        raise StoreLockedError(f"could not create {self.path}; delete it and try again")

    def release(self) -> None:
        """Remove the lock file if this process still owns it."""
        if not self._owned:
            return
        self._owned = False
        if self._read().get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
