"""First use: compile the kernels the trainer calls on several cores, then the trainer.

Numba compiles one function at a time, under a process-wide lock, and typing the trainer
compiles every kernel it calls on the way, one after another: on an empty cache about
half of the first-use compile is those kernels (``forward_flat``, ``backward_flat``, the
losses, optimizers and diagnostics), the other half the trainer itself. With more than
one core, :func:`compile_in_parallel` compiles the kernels in worker processes and in
this one, each into Numba's disk cache, before the trainer is compiled; the trainer's
compile then loads them from the cache instead of compiling them.

The kernels share callees (``affine`` is called by ``forward_flat`` and
``backward_flat``, the ``vmath`` functions and lane sums by most of them), and two
processes each compiled those again: :func:`plan` has the processes compile the callees
first, spread over them, and then the kernels, which find the callees in the cache. The
collector is paused during all of it (:func:`paused_gc`).

Which kernels, with which argument types, is a table (:mod:`._leaves`) that
``python -m fastdepth.kernels.precompile --write`` records from a compile of the trainer
on an empty cache; ``tests/test_precompile.py`` fails when the table and the trainer
disagree. A stale table costs time, never correctness: a kernel the trainer asks for with
other types is compiled by the trainer's own compile, as it would be without this module.
The machine code is the same either way (same compiler, same machine, same flags), so
results do not depend on which process compiled what.

``NUMBA_NUM_THREADS`` caps the processes (``NUMBA_NUM_THREADS=1`` compiles serially).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import numba
from numba import types

from . import _compat

# A worker that has not finished by then is killed; the trainer compiles what it left.
WORKER_TIMEOUT = 600.0
MAX_PROCESSES = 4  # the kernels' compile split further leaves little for each process

_MODULE = f"{__package__}.precompile"  # also when run as ``python -m`` (``__main__``)
_TYPE_NAMES = {**vars(types), "__builtins__": {}, "bool": types.boolean}


def _spell(t) -> str:
    """``t`` as the table writes it: its repr, which evaluates back to it in
    ``numba.types``, except for literals (a call site's constant argument)."""
    if isinstance(t, types.Literal):
        return f"literal({t.literal_value!r})"
    return repr(t)


def _parse(sig: Sequence[str]) -> tuple:
    return tuple(eval(t, _TYPE_NAMES) for t in sig)  # noqa: S307 (our own table)


def _dispatcher(module: str, name: str):
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def table_key(dtype: str, curvature: bool = False) -> str:
    """The table's key for the trainer of ``dtype``: ``'float64'``, or ``'float64
    curvature'`` for the one with the sharpness measurement linked in."""
    return f"{dtype} curvature" if curvature else dtype


def _trainer(dtype: str, curvature: bool = False):
    from . import _leaves

    entry = _leaves.TRAINER.get(table_key(dtype, curvature))
    if entry is None:
        return None, None
    return _dispatcher(entry[0], entry[1]), _parse(entry[2])


# Kernels the study layer calls on every run right after training, compiled with the
# trainer's (module, function, compile seconds, argument types): the exact sums of the
# summaries, 0.5 s that would otherwise follow the first chunk on one core.
STUDY = (("exactsum", "fsum_flat", 0.50, ("Array(float64, 1, 'C', False, aligned=True)",)),)


def leaves(dtype: str, curvature: bool = False) -> list[tuple[object, tuple, float]]:
    """The kernels the trainer of ``dtype`` calls (``curvature``: the one that measures
    the sharpness), and :data:`STUDY`'s: ``(dispatcher, argument types, seconds)``.

    ``seconds`` is the kernel's own compile time recorded with the table, its callees'
    (:func:`callees`) left out, used to balance the processes. Empty for a dtype the
    table does not know.
    """
    from . import _leaves

    table = _leaves.LEAVES.get(table_key(dtype, curvature), ())
    return [
        (_dispatcher(m, n), _parse(sig), s) for m, n, s, sig in (*table, *(STUDY if table else ()))
    ]


def callees(dtype: str, curvature: bool = False) -> list[tuple[object, tuple, float]]:
    """The kernels that :func:`leaves` call (``affine``, the ``vmath`` functions, the
    lane sums), in the order a serial compile finished them: ``(dispatcher, argument
    types, seconds)``, ``seconds`` with what each compiles on the way.

    Several kernels call each one, and kernels on different processes each compiled it
    again (1.5 s of duplicated work on 2 processes), so :func:`plan` compiles these first.
    """
    from . import _leaves

    table = _leaves.CALLEES.get(table_key(dtype, curvature), ())
    return [(_dispatcher(m, n), _parse(sig), s) for m, n, s, sig in table]


def assign(
    seconds: Sequence[float],
    parts: int,
    start: Sequence[float] = (),
    longest_first: bool = True,
) -> list[list[int]]:
    """Split jobs over ``parts`` processes, each to the least loaded: longest first (LPT),
    or in their order when ``longest_first`` is false.

    ``start`` gives each part's load before these jobs (zeros when not given). Returns the
    job indices of each part; part 0 runs in the calling process.
    """
    load = list(start) or [0.0] * parts
    out: list[list[int]] = [[] for _ in range(parts)]
    order = range(len(seconds))
    for i in sorted(order, key=lambda i: (-seconds[i], i)) if longest_first else order:
        p = min(range(parts), key=lambda p: (load[p], p))
        out[p].append(i)
        load[p] += seconds[i]
    return out


# A worker process starts this much after the calling process (spawn, imports), which
# is compiling by then.
WORKER_START = 0.4


def plan(dtype: str, parts: int, curvature: bool = False) -> list[list[tuple[object, tuple]]]:
    """What each of ``parts`` processes compiles, in order: ``(dispatcher, types)`` lists.

    First the :func:`callees`, in the order a serial compile finished them, each to the
    process that would be free first, so that a kernel's own callees are mostly in the
    cache by the time it compiles (a callee still missing is compiled by whoever needs it,
    as before); then the :func:`leaves`, longest first to the least loaded (:func:`assign`).
    """
    start = [0.0] + [WORKER_START] * (parts - 1)
    first = callees(dtype, curvature)
    shares = assign([s for _, _, s in first], parts, start, longest_first=False)
    load = list(start)
    for p, share in enumerate(shares):
        for i in share:
            load[p] += first[i][2]
    then = leaves(dtype, curvature)
    rest = assign([s for _, _, s in then], parts, load)
    return [[first[i][:2] for i in shares[p]] + [then[i][:2] for i in rest[p]]
            for p in range(parts)]  # fmt: skip


def processes(dtype: str, curvature: bool = False) -> int:
    """How many processes :func:`compile_in_parallel` would use now (1: compile serially).

    1 when the trainer of ``dtype`` is in the disk cache already (a warm start spawns
    nothing), when Numba's cache is unavailable, or when only one core may be used.
    """
    trainer, sig = _trainer(dtype, curvature)
    if trainer is None or not _compat.cache_enabled(trainer):
        return 1
    if _compat.in_disk_cache(trainer, sig):
        return 1
    from . import _leaves

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, numba.config.NUMBA_NUM_THREADS, MAX_PROCESSES,
                      len(_leaves.LEAVES.get(table_key(dtype, curvature), ()))))  # fmt: skip


@contextlib.contextmanager
def paused_gc():
    """No cyclic garbage collection inside the block (the collector's state is restored).

    A compile allocates Numba IR, types and LLVM wrappers by the hundred thousand, and
    the collector traverses them again at every collection it triggers (some 900 for the
    trainer's kernels): 0.3-0.6 s of each first-use process's compile. What a compile
    leaves is freed at the next collection after the block; peak memory rises by ~60 MB.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compile_part(dtype: str, part: int, parts: int, curvature: bool = False) -> None:
    """Compile (or load from the disk cache) this process's share of :func:`plan`."""
    for dispatcher, sig in plan(dtype, parts, curvature)[part]:
        dispatcher.compile(sig)


def compile_in_parallel(dtype: str, curvature: bool = False) -> int:
    """Compile the trainer's kernels for ``dtype`` on several processes, into the disk cache.

    ``curvature``: the kernels of the trainer that measures the sharpness (a superset).

    Call it before the trainer's first compile (:func:`fastdepth.kernels.train_batch`
    does, on its first call in a process). Worker processes inherit the environment
    (``NUMBA_CACHE_DIR``, the CPU settings), so they compile what this process would and
    write where it reads.

    Returns
    -------
    int
        The processes used, this one included; 1 when nothing was done in parallel.
    """
    parts = processes(dtype, curvature)
    if parts < 2:
        return 1
    cmd = [sys.executable, "-m", _MODULE, "--dtype", dtype, "--parts", str(parts)]
    cmd += ["--curvature"] if curvature else []
    workers = [subprocess.Popen([*cmd, "--part", str(p)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for p in range(1, parts)]  # fmt: skip
    try:
        with paused_gc():
            compile_part(dtype, 0, parts, curvature)
        deadline = time.monotonic() + WORKER_TIMEOUT
        for w in workers:
            try:
                w.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    return parts


# --- recording the table -----------------------------------------------------------------


def record(dtype: str, curvature: bool = False) -> tuple[tuple, list[tuple], list[tuple]]:
    """Compile the trainer of ``dtype`` (``curvature``: the one that measures the
    sharpness) here and note what it compiled on the way.

    Run it in a fresh process on an empty cache (``--write`` does), or the kernels load
    from the cache without being seen. Returns the trainer's entry, the kernels it called
    directly (with their own seconds) and the kernels those called (with everything they
    compiled on the way), as :mod:`._leaves` stores them.
    """
    from fastdepth.runner.chunks import warm_up

    def names(disp) -> tuple[str, str]:
        f = disp.py_func
        return f.__module__.rpartition(".")[2], f.__qualname__

    def spelled(args: tuple) -> tuple[str, ...] | None:
        # Only types that the table can spell back are recorded; a kernel left out is
        # compiled by the trainer, as without the table.
        out = tuple(_spell(t) for t in args)
        try:
            return out if _parse(out) == args else None
        except (NameError, TypeError, SyntaxError):
            return None

    trainer_name = "train_batch_flat_curvature" if curvature else "train_batch_flat"
    with _compat.recording_compiles() as compiles:
        warm_up({dtype}, curvature={curvature})
    found: list[tuple] = []
    below: list[tuple] = []  # the kernels' callees, in the order their compiles finished
    inner = 0.0  # seconds of the recorded callees since the last kernel
    for disp, args, seconds, depth in compiles:
        if not disp.py_func.__module__.startswith(__package__ + "."):
            continue  # Numba's own overloads compile with their callers
        sig = spelled(args)
        if depth == 2 and sig is not None:  # called by a kernel; compiles its own callees
            below.append((*names(disp), seconds, sig))
            inner += seconds
        elif depth == 1 and sig is not None:  # called by the trainer itself
            found.append((*names(disp), max(0.0, seconds - inner), sig))
            inner = 0.0
        elif depth == 0 and disp.py_func.__qualname__ == trainer_name:
            found.append(("trainer", *names(disp), sig))
        if depth <= 1:
            inner = 0.0
    trainer = next(f for f in found if f[0] == "trainer")[1:]
    kernels = sorted({f[:2]: f for f in found if f[0] != "trainer"}.values())
    return trainer, kernels, below


def _record_in_fresh_process(dtype: str, curvature: bool) -> tuple[tuple, list[tuple], list[tuple]]:
    with tempfile.TemporaryDirectory() as cache:
        # one process: what the trainer compiles on the way must happen inside its compile
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "NUMBA_NUM_THREADS": "1"}
        code = f"import {_MODULE} as p; print(repr(p.record({dtype!r}, {curvature!r})))"
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    return eval(out.strip().splitlines()[-1], {"__builtins__": {}})  # noqa: S307


def _table_source(tables: dict[str, tuple[tuple, list[tuple], list[tuple]]]) -> str:
    lines = [
        '"""The kernels the trainers call, with their argument types, per dtype (and per',
        "dtype for the trainer that measures the sharpness, ``'<dtype> curvature'``).",
        "",
        "Written by ``python -m fastdepth.kernels.precompile --write`` from a compile of the",
        "trainer on an empty cache; do not edit. See :mod:`.precompile`.",
        '"""',
        "",
        "# module, function, argument types (numba.types reprs)",
        "TRAINER = {",
    ]
    for dt, (trainer, _, _) in tables.items():
        lines += [f'    "{dt}": (', f'        "{trainer[0]}",', f'        "{trainer[1]}",']
        lines += ["        ("] + [f'            "{t}",' for t in trainer[2]]
        lines += ["        ),", "    ),"]
    lines.append("}")
    for name, what, col in (
        ("LEAVES", "the trainer calls", 1),
        ("CALLEES", "those call, in the order their compiles finished", 2),
    ):
        lines += ["", f"# {name}: the kernels {what}:",
                  "# module, function, compile seconds (balances the processes), types",
                  f"{name} = {{", *_kernel_rows(tables, col), "}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _kernel_rows(tables: dict[str, tuple], col: int) -> list[str]:
    lines = []
    for dt, table in tables.items():
        lines.append(f'    "{dt}": (')
        for m, n, s, sig in table[col]:
            lines += ["        (", f'            "{m}",', f'            "{n}",']
            lines += [f"            {s:.2f},"]
            if len(sig) == 1:  # as ruff format writes a 1-tuple
                lines += [f'            ("{sig[0]}",),', "        ),"]
            else:
                lines += ["            ("] + [f'                "{t}",' for t in sig]
                lines += ["            ),", "        ),"]
        lines.append("    ),")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m fastdepth.kernels.precompile",
        description="Compile a share of the trainer's kernels into the disk cache (the "
        "worker side of compile_in_parallel), or --write the table of those kernels.",
    )
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--part", type=int, default=0)
    ap.add_argument("--parts", type=int, default=1)
    ap.add_argument("--curvature", action="store_true",
                    help="the kernels of the trainer that measures the sharpness")  # fmt: skip
    ap.add_argument("--write", action="store_true", help="re-record kernels/_leaves.py")
    args = ap.parse_args(argv)
    if args.write:
        tables = {table_key(dt, c): _record_in_fresh_process(dt, c)
                  for c in (False, True) for dt in ("float64", "float32")}  # fmt: skip
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_leaves.py")
        with open(path, "w") as f:
            f.write(_table_source(tables))
        print(f"wrote {path}")
        return
    if not 0 <= args.part < args.parts:
        ap.error(f"--part must be in 0..{args.parts - 1}, got {args.part}")
    with paused_gc():
        compile_part(args.dtype, args.part, args.parts, args.curvature)


if __name__ == "__main__":
    main()
