"""No cyclic garbage collection while a fastdepth command line imports its dependencies.

Importing NumPy, Numba, pandas and pyarrow creates some 10^5 long-lived objects (modules,
functions, Numba's type tables). Python's cyclic collector traverses all of them at every
full collection, and the allocations of the imports trigger several: about 0.3 s of a
1.4 s warm ``python -m fastdepth.sweep --seeds 1 --epochs 10`` went to the collector.

When this process is a fastdepth command line (as :mod:`fastdepth._cli_interrupt` tells
it), :func:`pause` (run on import, before fastdepth imports anything heavy) turns the
collector off, and :func:`resume` (at the end of ``fastdepth/__init__.py``) moves
everything the imports made into the permanent generation (:func:`gc.freeze`, the
standard library's tool for objects that live as long as the process) and turns the
collector back on, so that later collections traverse only what the command allocates.
It also freezes everything once more at exit (an :mod:`atexit` hook): the interpreter's
shutdown runs full collections while it tears the modules down, which took 0.15-0.2 s
after a sweep had loaded its compiled trainer; the operating system frees the memory
anyway. (Finalizers of objects caught in reference cycles then do not run at exit, which
Python never promises; fastdepth has none, and closes its files and locks explicitly.)

Library use (``import fastdepth`` in a program or notebook) is left alone: freezing
would also pin the caller's own objects, garbage cycles included.
"""

from __future__ import annotations

import atexit
import gc
import sys

from ._cli_interrupt import is_command_line, runs_module

_paused: list[bool] = []


# Not a command line, but the same imports on the first use's critical path: the worker
# processes of fastdepth.kernels.precompile.compile_in_parallel.
WORKERS = ("fastdepth.kernels.precompile",)


def pause() -> None:
    """Turn the cyclic collector off when this process is a fastdepth command line or a
    first-use compile worker."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    if gc.isenabled() and (is_command_line(argv) or runs_module(argv, WORKERS)):
        gc.disable()
        _paused.append(True)


def resume() -> None:
    """Freeze what the imports made and turn the collector back on (after :func:`pause`)."""
    if _paused:
        _paused.clear()
        gc.freeze()
        gc.enable()
        atexit.register(gc.freeze)  # runs after the hooks registered later (LIFO)


pause()  # on import, before fastdepth imports anything heavy
