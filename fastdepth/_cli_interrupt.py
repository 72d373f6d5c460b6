"""Ctrl-C while a fastdepth command is still importing: one line, not a traceback.

Importing NumPy, Numba and pandas takes a second or two, before any command-line code
runs. When this process is a fastdepth command line (``fastdepth ...`` or
``python -m fastdepth[.sweep|.report]``), an uncaught KeyboardInterrupt prints
``interrupted`` instead of a traceback; the process still ends by SIGINT (status 130).
Library use (``import fastdepth``) is left alone.
"""

from __future__ import annotations

import os
import sys

COMMANDS = ("fastdepth", "fastdepth.__main__", "fastdepth.sweep", "fastdepth.report")


def is_command_line(argv: list[str]) -> bool:
    """Whether ``argv`` (``sys.orig_argv``) runs a fastdepth command line."""
    if len(argv) > 1 and os.path.basename(argv[1]) == "fastdepth":  # the console script
        return True
    return any(a == "-m" and b in COMMANDS for a, b in zip(argv, argv[1:], strict=False))


def install() -> None:
    """Install the quiet hook when this process is a fastdepth command line."""
    if not is_command_line(list(getattr(sys, "orig_argv", sys.argv))):
        return
    previous = sys.excepthook

    def hook(kind, value, tb):  # type: ignore[no-untyped-def]
        if issubclass(kind, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            return
        previous(kind, value, tb)

    sys.excepthook = hook


install()  # on import, before fastdepth imports anything heavy
