"""What a result depends on, recorded in the manifest: versions, CPU, host, threads, git."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import __version__

__all__ = ["environment", "now"]


def now() -> str:
    """The local time with its UTC offset, to the second (ISO 8601)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        p = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def environment(threads: int | None = None) -> dict[str, Any]:
    """Versions, CPU, host, thread count and git commit: what a result depends on."""
    import numba

    versions = {"fastdepth": __version__, "numpy": np.__version__, "numba": numba.__version__,
                "pandas": pd.__version__, "pyarrow": pa.__version__}  # fmt: skip
    commit = _git("rev-parse", "HEAD")
    dirty = None
    if commit is not None:
        status = _git("status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
    return {
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "host": socket.gethostname(),
        "threads": int(threads if threads is not None else numba.get_num_threads()),
        "git_commit": commit,
        "git_dirty": dirty,
    }
