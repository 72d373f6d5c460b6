"""One sweep session on a store: plan it, open or create the store, train its chunks.

Shared by the sweep command line (:mod:`fastdepth.sweep`) and the library entry point
(:func:`fastdepth.distributed.run_sweep`): the same chunk sizes, the same checks of an
existing store, the same warm-up and the same commit loop (:func:`.chunks.run_chunks`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastdepth.config import Grid, RunConfig
from fastdepth.config.cost import available_memory
from fastdepth.store import Store, StoreCorruptWarning, StoreError

from . import chunks
from .inputs import check_out, check_reachable, manifest_errors
from .progress import Console, GracefulStop, Progress, eta_cost, fmt_bytes

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "EXECUTOR_CHUNK_SIZE",
    "Plan",
    "UsageError",
    "chunk_memory",
    "grid_shape",
    "open_store",
    "plan",
    "prepare",
    "train_chunks",
]

# Runs per chunk of a new store: enough networks per train_many call to keep many threads
# busy, few enough that progress, Ctrl-C and resume have a fine grain. Fixed per store
# (saved in its manifest).
DEFAULT_CHUNK_SIZE = 64
# Runs per chunk of a new store swept on executors / Dask: a quarter of the local size.
# Measured (2 cores): a chunk costs ~30-50 ms besides training (encoding on the worker,
# ~47 ms of fsync'd writes on the client), ~2% of 16 W1-like runs at 200 epochs; smaller
# chunks balance the tail of a sweep across workers better (one chunk per worker at most
# idle), which a single process training chunk after chunk does not need.
EXECUTOR_CHUNK_SIZE = DEFAULT_CHUNK_SIZE // 4
# Packed telemetry, then per-run DataFrames, then Arrow tables of a chunk, all alive at once.
MEMORY_FACTOR = 3


class UsageError(Exception):
    """An invalid command line; reported as one ``error: ...`` line, exit code 2."""


@dataclass
class Plan:
    """What a command resolves to, before anything is written."""

    path: Path
    grid: Grid
    chunk_size: int
    existing: bool  # the store exists already (resume)
    threads: int | None  # --threads (None: Numba's default)
    scheduler: str | None = None  # --scheduler (None: train in this process)
    warnings: list[str] = field(default_factory=list)  # to print before anything runs
    dashboard: str | None = None  # --dask-dashboard (None: loopback, a free port)


def chunk_memory(grid: Grid, chunk_size: int) -> int:
    """Peak bytes of one chunk in flight: its runs' memory times :data:`MEMORY_FACTOR`.

    From the grid's settings (:meth:`Grid.per_run`): no run is built.
    """
    if len(grid) == 0:
        return 0
    sizes = grid.per_run(RunConfig.memory_bytes)
    starts = np.arange(0, len(sizes), chunk_size)
    return int(np.add.reduceat(sizes, starts).max()) * MEMORY_FACTOR


def _check_threads(threads: int | None) -> None:
    if threads is None:
        return
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        raise UsageError(
            f"--threads {threads} is more than the {numba.config.NUMBA_NUM_THREADS} threads "
            "Numba was started with (set NUMBA_NUM_THREADS to allow more)"
        )


REMOTE_WARNING = (
    "warning: the Dask scheduler {spec} is not on this host. Dask sends pickled objects, "
    "which run code when unpickled, between this process, the scheduler and the workers: "
    "connect only to a cluster you trust, and over tls:// on any network you do not control"
)


def _check_scheduler(spec: str | None, warnings: list[str] | None = None) -> tuple | None:
    """``--scheduler``, parsed; a UsageError if malformed, unreachable or without Dask.

    A scheduler on another host adds :data:`REMOTE_WARNING` to ``warnings``.
    """
    if spec is None:
        return None
    from fastdepth import distributed

    try:
        parsed = distributed.parse_scheduler(spec)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        distributed._import_dask()
    except distributed.DaskNotInstalledError:
        raise UsageError(
            f"--scheduler needs Dask, which is not installed: {distributed.DASK_INSTALL}"
        ) from None
    if parsed[0] == "address":
        try:
            here = check_reachable(str(parsed[1]))
        except OSError as e:
            raise UsageError(f"--scheduler: {e.strerror or e}") from None
        if not here and warnings is not None:
            warnings.append(REMOTE_WARNING.format(spec=spec))
    return parsed


def plan(
    make_grid: Callable[[], Grid],
    grid_given: bool,
    *,
    out: str | None,
    resume: str | None,
    chunk_size: int | None,
    threads: int | None,
    scheduler: str | None,
    default_out: Callable[[Grid], Path],
    dashboard: str | None = None,
) -> Plan:
    """Resolve the grid, store path and chunk size of a command; validate everything.

    Parameters
    ----------
    make_grid : callable
        Builds the command's grid (flags, ``--config`` and defaults).
    grid_given : bool
        Whether the command sets the grid; on ``--resume`` without it, the stored grid.
    out, resume, chunk_size, threads, scheduler
        ``--out``, ``--resume``, ``--chunk-size``, ``--threads``, ``--scheduler``.
    default_out : callable
        The store path of a grid when ``--out`` is not given.

    Raises
    ------
    UsageError, ConfigError, StoreError
        Whatever makes the command invalid, before any directory is created.
    """
    warnings: list[str] = []
    parsed = _check_scheduler(scheduler, warnings)
    if dashboard is not None and (parsed is None or parsed[0] != "local"):
        raise UsageError("--dask-dashboard applies to --scheduler local[:N] only")
    if parsed is None or parsed[0] == "local":  # remote workers have their own cores
        _check_threads(threads)
    if resume is not None:
        path = Path(resume)
        if out is not None and Path(out).resolve() != path.resolve():
            raise UsageError(f"--out {out} and --resume {resume} name different stores")
        store = Store(path)
        if not store.exists():
            raise UsageError(f"--resume {path}: no fastdepth store there (no manifest.json)")
        check_out(path, "--resume")
        with manifest_errors(path):
            grid = make_grid() if grid_given else store.grid()
            store.check_grid(grid)
        existing = True
    else:
        grid = make_grid()
        path = check_out(out, "--out") if out is not None else default_out(grid)
        if out is None:
            check_out(path, "--out")
        store = Store(path)
        existing = store.exists()
        if existing:
            with manifest_errors(path):
                store.check_grid(grid)
        elif not store.is_empty_dir():
            raise UsageError(
                f"--out {path} exists and is not a fastdepth store; choose a new directory"
            )
    if existing:
        with manifest_errors(path):
            size = store.chunk_size()
            store.chunks()
        if chunk_size is not None and chunk_size != size:
            raise UsageError(
                f"--chunk-size {chunk_size} differs from the store's chunk size "
                f"{size} (fixed when {path} was created); drop --chunk-size to resume"
            )
    else:
        size = chunk_size or (EXECUTOR_CHUNK_SIZE if parsed is not None else DEFAULT_CHUNK_SIZE)
    avail = available_memory()
    need, limit = chunk_memory(grid, size), (None if avail is None else avail // 2)
    if limit is not None and need > limit:
        raise UsageError(
            f"a chunk of {size} runs needs about {fmt_bytes(need)} but only "
            f"{fmt_bytes(limit)} (half the available RAM) is free; use a smaller --chunk-size, "
            "raise --log-every or --eval-every"
        )
    return Plan(path, grid, size, existing, threads, scheduler, warnings, dashboard)


def open_store(
    store: Store,
    grid: Grid,
    chunk_size: int | None,
    threads: int,
    command: Sequence[str] | None,
    *,
    default_chunk_size: int = DEFAULT_CHUNK_SIZE,
    note: Callable[[str], None] | None = None,
) -> list[tuple[int, int, int]]:
    """With the lock held: create the store or check it, clean up; the chunks left to train.

    Parameters
    ----------
    store : Store
    grid : Grid
    chunk_size : int or None
        Runs per chunk of a new store (None: ``default_chunk_size``); an existing store
        keeps its own, and a different explicit value is an error.
    threads : int
        Threads of this session (recorded in the manifest).
    command : sequence of str or None
        The command recorded with the store and the session.
    note : callable, optional
        Told about temporary files an interrupted sweep left (and that were removed).

    Returns
    -------
    list of (chunk, start, stop)
        The chunks without a commit marker, in order.

    Raises
    ------
    StoreError
        A different grid or chunk size, or a directory that holds something else.
    """
    if store.exists():
        store.check_grid(grid)  # again, now that no other sweep can change the store
        if chunk_size is not None and chunk_size != store.chunk_size():
            raise StoreError(
                f"chunk_size {chunk_size} differs from the store's {store.chunk_size()} "
                f"(fixed when {store.path} was created)"
            )
    elif not store.is_empty_dir():
        raise StoreError(f"{store.path} exists and is not a fastdepth store; choose a new one")
    else:
        store.create(grid, chunk_size or default_chunk_size, threads, command)
    removed = store.remove_tmp()
    if removed and note is not None:
        note(f"removed {len(removed)} temporary files left by an interrupted sweep")
    store.add_session(threads, command)
    done = set(store.done_chunks())
    return [(k, a, b) for k, (a, b) in enumerate(store.chunks()) if k not in done]


def grid_shape(grid: Grid) -> str:
    """``'dataset[2] x depth[5] x seed[10]'``: the grid's varied axes and their lengths."""
    vals = grid.values
    return " x ".join(f"{k}[{len(vals[k])}]" for k in grid.axes) or "a single run"


def prepare(
    store: Store, p: Plan, threads: int, command: Sequence[str] | None, console: Console
) -> list[tuple[int, int, int]]:
    """With the lock held: create or check the store, clean up; the chunks left to train.

    :func:`open_store`, with what it finds said on the console: damaged chunks (trained
    again), how far a resumed store got, and what the session will train.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StoreCorruptWarning)
        todo = open_store(store, p.grid, p.chunk_size, threads, command, note=console.note)
    for w in caught:  # a damaged chunk is trained again: say which and why, on the console
        if issubclass(w.category, StoreCorruptWarning):
            console.note(f"warning: {w.message}", force=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    bounds = store.chunks()
    n_todo = sum(b - a for _, a, b in todo)
    if len(todo) < len(bounds):
        console.note(
            f"resuming {p.path}: {len(bounds) - len(todo)}/{len(bounds)} chunks done "
            f"({len(p.grid) - n_todo}/{len(p.grid)} runs), {len(todo)} to go"
        )
    plural = "s" if len(bounds) != 1 else ""
    where = f"on Dask {p.scheduler}" if p.scheduler else f"{threads} threads"
    console.note(
        f"sweep: {len(p.grid)} runs ({grid_shape(p.grid)}) in {len(bounds)} chunk{plural} of "
        f"up to {p.chunk_size}, {where} -> {p.path}"
    )
    return todo


def train_chunks(store: Store, p: Plan, todo: list[tuple[int, int, int]], console: Console) -> bool:
    """Train and commit the chunks in ``todo`` with progress and Ctrl-C handling.

    False if stopped early by Ctrl-C. Chunks go through :func:`.chunks.run_chunks`:
    trained in this process one after another, or with ``--scheduler`` by Dask workers,
    committed here either way.
    """
    from fastdepth import distributed

    runs = p.grid  # each chunk's runs are built when it is submitted
    cost = p.grid.per_run(eta_cost)
    todo_cost = float(sum(cost[a:b].sum() for _, a, b in todo))
    n_todo = sum(b - a for _, a, b in todo)
    with GracefulStop(console) as stop, contextlib.ExitStack() as stack:
        local = p.scheduler is None or distributed.parse_scheduler(p.scheduler)[0] == "local"
        if local:  # workers on this machine then load the trainer from Numba's disk cache
            chunks.warm_up(set(p.grid.distinct("dtype")), console.note,
                           p.grid.distinct("measures_sharpness"),
                           p.grid.distinct("count_regions"))  # fmt: skip
        if p.scheduler is None:
            backend: Any = chunks.InProcess()
        else:
            console.note(f"connecting to Dask ({p.scheduler})...")
            backend = stack.enter_context(  # plan() warned about a remote scheduler already
                distributed.dask_client(p.scheduler, p.threads, p.dashboard, warn=lambda m: None)
            )
            console.note(f"dask: {backend.client}")
        total = float(cost.sum())
        progress = Progress(console, len(runs), len(runs) - n_todo, total,
                            total - todo_cost)  # fmt: skip

        def committed(parts: chunks.ChunkParts) -> None:
            a = parts.start
            progress.update(parts.n_runs, float(cost[a : a + parts.n_runs].sum()))

        try:
            return chunks.run_chunks(
                store, runs, todo, backend, threads=p.threads, on_chunk=committed,
                stop=lambda: stop.requested, note=console.note,
            )  # fmt: skip
        finally:
            progress.close()
