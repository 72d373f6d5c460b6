"""The sweep command: plan, dry run, lock the store, train, print the summary; exit codes.

See :mod:`fastdepth.sweep` for the command line as a whole.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fastdepth.config import ConfigError, Grid, RunConfig
from fastdepth.config.cost import RATE_PER_THREAD, train_cost
from fastdepth.runner.inputs import make_dir
from fastdepth.runner.progress import Console, Interrupted, fmt_bytes, hms
from fastdepth.runner.session import (
    Plan,
    UsageError,
    chunk_memory,
    grid_shape,
    prepare,
    train_chunks,
)
from fastdepth.runner.session import plan as _plan
from fastdepth.store import (
    Store,
    StoreError,
    chunk_bounds,
    load,
    verify,
)
from fastdepth.summary import format_text, summary_table, write_summary

from .args import PROG, build_grid, default_out, grid_given, make_parser

__all__ = ["main", "plan"]


# ======================================================================================
# output helpers


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


# ======================================================================================
# planning


def plan(args: argparse.Namespace) -> Plan:
    """Resolve the grid, store path and chunk size of a command line; validate everything.

    Raises
    ------
    UsageError, ConfigError, StoreError
        Whatever makes the command invalid, before any directory is created.
    """
    return _plan(
        lambda: build_grid(args), grid_given(args), out=args.out, resume=args.resume,
        chunk_size=args.chunk_size, threads=args.threads, scheduler=args.scheduler,
        default_out=default_out, dashboard=args.dask_dashboard,
    )  # fmt: skip


def _fixed(grid: Grid) -> str:
    out = []
    for k, v in grid.values.items():
        if len(v) == 1:
            x = v[0]
            out.append(f"{k}={'full' if (k == 'batch_size' and x is None) else x}")
    for k, v in grid.base.items():
        out.append(f"{k}={v}")
    return " ".join(out)


def _dry_run(p: Plan) -> str:
    import numba
    import numpy as np

    grid = p.grid
    bounds = chunk_bounds(len(grid), p.chunk_size)
    threads = p.threads or numba.get_num_threads()
    todo = np.ones(len(grid), dtype=bool)
    if p.existing:
        done = set(Store(p.path).done_chunks())
        for k in done:
            todo[slice(*bounds[k])] = False
        where = f"{p.path} (existing store: {len(done)}/{len(bounds)} chunks done; would resume)"
    else:
        where = f"{p.path} (new)"
    # per setting, not per run: every seed of a setting costs the same
    flops = float(grid.per_run(RunConfig.flops)[todo].sum())
    n_todo = int(todo.sum())
    busy = max(1, min(threads, n_todo))  # on Dask the workers' threads are unknown here:
    cost = float(grid.per_run(train_cost)[todo].sum())  # priced as this machine's
    secs = cost / (RATE_PER_THREAD * busy)
    lines = [
        "dry run: nothing is trained or written",
        f"grid:     {len(grid)} runs = {grid_shape(grid)}",
        f"fixed:    {_fixed(grid)}",
        f"store:    {where}",
        f"chunks:   {len(bounds)} of up to {p.chunk_size} runs, "
        + (f"on Dask ({p.scheduler})" if p.scheduler else f"{threads} threads"),
        f"memory:   {fmt_bytes(grid.memory_bytes())} of telemetry and parameters in all; about "
        f"{fmt_bytes(chunk_memory(grid, p.chunk_size))} per chunk in flight",
        f"compute:  {flops / 1e9:.1f} GFLOP to train; about {hms(secs)} on {threads} threads "
        f"(grid.estimate_seconds: FLOPs plus per-layer and per-activation costs measured on a "
        f"2-core AVX-512 machine; the first sweep also compiles, ~30 s)",
    ]
    return "\n".join(lines)


# ======================================================================================
# running


def _resume_hint(p: Plan) -> str:
    cmd = f"{PROG} --resume {shlex.quote(str(p.path))}"
    if p.threads is not None:
        cmd += f" --threads {p.threads}"
    if p.scheduler is not None:
        cmd += f" --scheduler {shlex.quote(p.scheduler)}"
    return cmd


def _run(p: Plan, args: argparse.Namespace, argv: Sequence[str], t_start: float) -> int:
    import numba

    console = Console(args.quiet)
    store = Store(p.path)
    threads = p.threads or numba.get_num_threads()
    if p.scheduler is not None:  # per chunk on the workers (0: each worker decides)
        from fastdepth import distributed

        threads = distributed.planned_threads(p.scheduler, p.threads) or 0
    command = [PROG, *argv]
    for msg in p.warnings:
        console.note(msg, force=True)
    lock = store.lock()
    try:
        make_dir(p.path)
        lock.acquire()
    except (StoreError, OSError) as e:  # locked, a lock that is a directory, read-only
        _err(_oserror(e, "the store lock"))
        return 2
    try:
        if lock.stale is not None:
            console.note(
                f"note: took over the stale lock of {p.path} (pid {lock.stale.get('pid')} "
                f"on {lock.stale.get('host')} is no longer running)"
            )
        todo = prepare(store, p, threads, command, console)
        if todo and not train_chunks(store, p, todo, console):
            return _interrupted(store, p, console, 130)
        table = summary_table(load(p.path, timing=False))
        write_summary(table, p.path)
        wall = time.perf_counter() - t_start
        trained = sum(b - a for _, a, b in todo)
        if args.quiet:
            print(p.path)
        else:
            print(format_text(table))
            print()
            print(f"store: {p.path}   (fastdepth.load({str(p.path)!r}); summary.csv, summary.md)")
            print(
                f"wall time: {wall:.1f} s ({hms(wall)}); {trained} runs trained in this "
                f"session{'' if trained else ' (all chunks were already done)'}"
            )
        sys.stdout.flush()
        return _report(p.path, console) if args.report else 0
    except (UsageError, StoreError, ConfigError) as e:
        _err(str(e))
        return 2
    except (KeyboardInterrupt, Interrupted) as e:
        return _interrupted(store, p, console, e.code if isinstance(e, Interrupted) else 130)
    except OSError as e:  # a full disk, a store made read-only: the committed chunks are safe
        hint = f"; the committed chunks are kept: after fixing it, {_resume_hint(p)}"
        _err(_oserror(e, str(p.path)) + (hint if store.exists() else ""))
        return 2
    except Exception:
        if store.exists():  # finished chunks are safe: say how to continue, then the traceback
            console.note(f"the sweep failed; to continue after fixing the cause: "
                         f"{_resume_hint(p)}", force=True)  # fmt: skip
        raise
    finally:
        lock.release()


def _oserror(e: BaseException, what: str) -> str:
    """One line for an OSError: what failed, on which file, and the system's reason."""
    if not isinstance(e, OSError) or isinstance(e, StoreError):
        return str(e)
    where = e.filename if e.filename is not None else what
    return f"{where}: {e.strerror or e}"


def _interrupted(store: Store, p: Plan, console: Console, code: int) -> int:
    n_chunks = len(store.chunks())
    done = store.done_chunks()
    console.note(
        f"interrupted: {len(done)}/{n_chunks} chunks are saved in {p.path}; resume with\n"
        f"  {_resume_hint(p)}",
        force=True,
    )
    return code


def _report(path: Path, console: Console) -> int:
    try:
        from fastdepth import report  # written separately; optional
    except ImportError as e:
        console.note(f"--report: fastdepth.report is not available ({e}); skipped", force=True)
        return 0
    # --quiet: the report prints only its report.md path (no line per figure)
    rc = report.main([str(path), *(["--quiet"] if console.quiet else [])])
    return int(rc or 0)


# Errors of the user's input, reported as one line with exit code 2. Overflow, memory and
# recursion errors come from values too large to represent (a 20-digit seed, a grid file
# nested a thousand deep) that a check missed; they too mean "change the input".
INPUT_ERRORS = (UsageError, ConfigError, StoreError, OSError, OverflowError, MemoryError,
                RecursionError)  # fmt: skip


def _verify(path: str, argv: Sequence[str]) -> int:
    """``--verify DIR``: print the store's check; 0 sound, 1 damaged chunks."""
    if len(argv) != 2:
        raise UsageError("--verify DIR takes no other flags")
    report = verify(path, deep=True)
    print(report)
    return 0 if report.sound else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep command line; returns the exit code (see the module docstring)."""
    t_start = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = make_parser().parse_args(argv)
        if args.verify is not None:
            return _verify(args.verify, argv)
        p = plan(args)
        if args.dry_run:
            for msg in p.warnings:
                print(msg, file=sys.stderr)
            print(_dry_run(p))
            return 0
    except SystemExit as e:  # --help, --version
        return int(e.code or 0)
    except INPUT_ERRORS as e:
        _err(_oserror(e, "input"))
        return 2
    except KeyboardInterrupt:  # before the store exists: nothing to resume
        print("interrupted", file=sys.stderr)
        return 130
    return _run(p, args, argv, t_start)


if __name__ == "__main__":
    sys.exit(main())
