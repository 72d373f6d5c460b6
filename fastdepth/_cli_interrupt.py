"""Ctrl-C while a fastdepth command is still importing: one line, not a traceback.

Importing NumPy, Numba and pandas takes a second or two, before any command-line code
runs. When this process is a fastdepth command line (``fastdepth ...`` or
``python -m fastdepth[.sweep|.report]``), an uncaught KeyboardInterrupt prints
``interrupted`` instead of a traceback; the process still ends by SIGINT (status 130).
Library use (``import fastdepth``) is left alone.

Two cases besides the plain one: a second SIGINT while the first is being reported
(``timeout -s INT`` signals the command and its process group, a user presses Ctrl-C
twice) is ignored; and a KeyboardInterrupt raised inside a callback that Python cannot
propagate (a weakref callback of the import machinery: "Exception ignored in ...") ends
the process by SIGINT as well, instead of printing a traceback and running on. And a
Ctrl-C that a C extension turns into another error (NumPy's C import reports a
KeyboardInterrupt inside ``PyCapsule_Import`` as "Importing the numpy C-extensions
failed"): the SIGINT handler notes that Ctrl-C was pressed, and any error after it ends
the command as interrupted.

A SIGINT before Python has imported its ``site`` module (the first ~30 ms) is
the interpreter's own business: no package code runs yet.
"""

from __future__ import annotations

import os
import signal
import sys

COMMANDS = ("fastdepth", "fastdepth.__main__", "fastdepth.sweep", "fastdepth.report")


def runs_module(argv: list[str], modules: tuple[str, ...]) -> bool:
    """Whether ``argv`` (``sys.orig_argv``) runs one of ``modules`` with ``python -m``."""
    return any(a == "-m" and b in modules for a, b in zip(argv, argv[1:], strict=False))


def is_command_line(argv: list[str]) -> bool:
    """Whether ``argv`` (``sys.orig_argv``) runs a fastdepth command line."""
    if len(argv) > 1 and os.path.basename(argv[1]) == "fastdepth":  # the console script
        return True
    return runs_module(argv, COMMANDS)


def install() -> None:
    """Install the quiet hook when this process is a fastdepth command line."""
    if not is_command_line(list(getattr(sys, "orig_argv", sys.argv))):
        return
    previous = sys.excepthook
    previous_unraisable = sys.unraisablehook
    pressed: list[bool] = []

    def on_sigint(signum, frame):  # type: ignore[no-untyped-def]
        pressed.append(True)
        raise KeyboardInterrupt

    def end_by_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # end as an uncaught Ctrl-C would

    def say() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no traceback either
        try:
            os.write(2, b"interrupted\n")
        except OSError:  # stderr closed: nothing to say it on
            pass

    def hook(kind, value, tb):  # type: ignore[no-untyped-def]
        if issubclass(kind, KeyboardInterrupt):
            say()  # Python then ends the process by SIGINT itself
            return
        if pressed:  # Ctrl-C, reported by a C extension as its own failure
            say()
            end_by_sigint()
            return
        previous(kind, value, tb)

    def unraisable(info):  # type: ignore[no-untyped-def]
        if isinstance(info.exc_value, KeyboardInterrupt):
            say()
            end_by_sigint()
            return
        previous_unraisable(info)

    sys.excepthook = hook
    sys.unraisablehook = unraisable
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_sigint)


install()  # on import, before fastdepth imports anything heavy
