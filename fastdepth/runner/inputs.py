"""Checks of what a user names before anything is created: store paths, stores, schedulers.

Each check raises :class:`~fastdepth.store.StoreError` (or ``UsageError`` for the
scheduler) with one line saying what to change, so the command lines can report it as
``error: ...`` with exit code 2 instead of a traceback halfway through a sweep.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastdepth.config import ConfigError
from fastdepth.store import StoreError

__all__ = [
    "check_out",
    "check_reachable",
    "host_port",
    "is_this_host",
    "make_dir",
    "manifest_errors",
    "parse_scheduler",
]

_ADDRESS = re.compile(r"^[a-z][a-z0-9+]*://\S+$|^[\w.-]+:\d+$")


def parse_scheduler(spec: str) -> tuple[str, int | None] | tuple[str, str]:
    """``"local"`` -> ``("local", None)``, ``"local:4"`` -> ``("local", 4)``,
    ``"tcp://host:8786"`` (or ``tls://``, ``host:port``) -> ``("address", spec)``.

    Raises
    ------
    ValueError
        For anything else, with the accepted forms.
    """
    s = spec.strip()
    m = re.fullmatch(r"local(?:\[?:(\d+)\]?)?", s)
    if m:
        n = int(m.group(1)) if m.group(1) else None
        if n is not None and n < 1:
            raise ValueError(f"--scheduler {spec}: need at least 1 worker")
        return ("local", n)
    if _ADDRESS.match(s):
        return ("address", s)
    raise ValueError(
        f"--scheduler {spec!r}: expected local, local:N (N worker processes) or a scheduler "
        "address such as tcp://host:8786 or tls://host:8786"
    )


# Seconds to wait for a scheduler to accept a TCP connection before refusing the command.
CONNECT_TIMEOUT = 5.0


def check_out(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` can be a store directory here: raise :class:`StoreError` otherwise.

    It is an existing directory, or every missing component can be made: the nearest
    existing ancestor is a writable directory and no name is longer than the file
    system allows. Nothing is created.
    """
    p = Path(path)
    text = str(path)
    if not text.strip():
        raise StoreError(f"{flag} is empty; name a directory")
    _check_names(p.parts, 255, flag, text)  # before any stat: it fails on such names
    if p.exists() and not p.is_dir():
        raise StoreError(f"{flag} {text} is a file, not a directory; choose a directory")
    ancestor = p
    missing: list[str] = []
    while not ancestor.exists():
        missing.append(ancestor.name)
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise StoreError(
            f"{flag} {text}: {ancestor} is a file, so nothing can be created under it; "
            "choose a directory"
        )
    try:
        name_max = os.pathconf(ancestor, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    _check_names(missing, name_max, flag, text)
    target = p if p.exists() else ancestor
    if not os.access(target, os.W_OK | os.X_OK):
        raise StoreError(f"{flag} {text}: {target} is not writable; choose another directory")
    return p


def _check_names(parts: Any, name_max: int, flag: str, text: str) -> None:
    for part in parts:
        n = len(os.fsencode(part))
        if n > name_max:
            raise StoreError(
                f"{flag} {text[:40]}...: a name of {n} bytes ({part[:12]}...) is more than "
                f"the {name_max} this file system allows; choose a shorter name"
            )


def make_dir(path: Path, flag: str = "--out") -> None:
    """Create the store directory (and parents): :class:`StoreError` if the system refuses."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create {flag} {path}: {e.strerror or e}") from None


@contextlib.contextmanager
def manifest_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a manifest that cannot be read as one (truncated, empty, not an object,
    without a grid, ``chunk_size: 0``) into a :class:`StoreError`.

    The store's own checks raise :class:`StoreError` already; this also covers the
    errors a malformed manifest raises from plain parsing and arithmetic.
    """
    try:
        yield
    except (StoreError, ConfigError):
        raise
    except (ValueError, KeyError, TypeError, AttributeError, ZeroDivisionError,
            RecursionError) as e:  # fmt: skip
        raise StoreError(
            f"{Path(path) / 'manifest.json'} is not a valid fastdepth manifest "
            f"({type(e).__name__}: {e}); restore it from a copy or start a new store"
        ) from None


def host_port(address: str) -> tuple[str, int] | None:
    if "://" not in address:
        address = "tcp://" + address
    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or parts.port is None:
        return None
    return parts.hostname, parts.port


def is_this_host(host: str) -> bool:
    """Whether ``host`` names this machine (loopback, or one of its own addresses)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    mine = {"127.0.0.1", "::1"}
    with contextlib.suppress(OSError):
        mine.update(socket.gethostbyname_ex(socket.gethostname())[2])
    for info in infos:
        addr = info[4][0]
        if addr not in mine and not ipaddress.ip_address(addr.split("%")[0]).is_loopback:
            return False
    return bool(infos)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Raise ``OSError`` with one line unless ``address`` accepts a TCP connection.

    Returns whether the scheduler is on this host (the caller warns when it is not:
    Dask moves pickles, which run code). Addresses other than ``tcp://`` / ``tls://``
    host:port are left to Dask.
    """
    hp = host_port(address)
    if hp is None:
        return True
    host, port = hp
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except TimeoutError:
        raise OSError(
            errno.ETIMEDOUT,
            f"no Dask scheduler answered at {address} within {timeout:.0f} s; is it running?",
        ) from None
    except OSError as e:
        raise OSError(
            e.errno, f"cannot reach a Dask scheduler at {address}: {e.strerror or e}"
        ) from None
    return is_this_host(host)
