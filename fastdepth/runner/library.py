"""``fastdepth.sweep(grid, out)``: the command-line sweep, from Python.

The same store (lock, chunks, resume, integrity) and the same ``summary.csv`` /
``summary.md`` as ``python -m fastdepth.sweep``, through the same session code
(:func:`.session.prepare`, :func:`.session.train_chunks`): only the checks of the
arguments speak Python instead of flags. For executors and Dask see
:func:`fastdepth.distributed.run_sweep`.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastdepth.config import ConfigError, Grid
from fastdepth.config.cost import available_memory
from fastdepth.store import Store, StoreError, load
from fastdepth.summary import summary_table, write_summary

from .inputs import check_out, make_dir
from .progress import Console, fmt_bytes
from .session import DEFAULT_CHUNK_SIZE, Plan, chunk_memory, prepare, train_chunks

__all__ = ["COMMAND", "sweep"]

COMMAND = "fastdepth.sweep(grid, out)"  # recorded in the manifest


def _plan(grid: Grid, out: str | os.PathLike, threads: int | None,
          chunk_size: int | None) -> Plan:  # fmt: skip
    """Check everything before anything is created; the :class:`Plan` of the call."""
    import numba

    if not isinstance(grid, Grid):
        raise ConfigError(
            f"fastdepth.sweep takes a Grid, got {type(grid).__name__}; build one with "
            "fastdepth.Grid({'depth': [1, 2, 4], 'seed': range(10)}, base=...)"
        )
    for name, value in (("threads", threads), ("chunk_size", chunk_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):  # fmt: skip
            raise ConfigError(f"{name} must be an integer >= 1 (or None), got {value!r}")
    if threads is not None and threads > numba.config.NUMBA_NUM_THREADS:
        raise ConfigError(
            f"threads={threads} is more than the {numba.config.NUMBA_NUM_THREADS} threads Numba "
            "was started with (set NUMBA_NUM_THREADS before importing fastdepth to allow more)"
        )
    path = check_out(out, "out")
    store = Store(path)
    existing = store.exists()
    if existing:
        store.check_grid(grid)
        size = store.chunk_size()
        if chunk_size is not None and chunk_size != size:
            raise StoreError(
                f"chunk_size={chunk_size} differs from the chunk size {size} of the store "
                f"{path} (fixed when it was created); leave chunk_size out to resume it"
            )
    elif not store.is_empty_dir():
        raise StoreError(f"{path} exists and is not a fastdepth store; choose a new directory")
    else:
        size = chunk_size or DEFAULT_CHUNK_SIZE
    avail = available_memory()
    need, limit = chunk_memory(grid, size), (None if avail is None else avail // 2)
    if limit is not None and need > limit:
        raise ConfigError(
            f"a chunk of {size} runs needs about {fmt_bytes(need)} but only {fmt_bytes(limit)} "
            "(half the available RAM) is free; pass a smaller chunk_size, or raise log_every, "
            "eval_every or snapshot_every"
        )
    return Plan(path, grid, size, existing, threads)


def sweep(
    grid: Grid,
    out: str | os.PathLike,
    *,
    threads: int | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
) -> Path:
    """Train ``grid`` into the store ``out`` and write its summary, as the sweep command does.

    An existing store of the same grid is resumed (its finished chunks are kept), so the
    same call continues an interrupted sweep, and a finished one returns at once.

    Parameters
    ----------
    grid : Grid
    out : path
        Store directory: new (created), or a store of this grid (resumed).
    threads : int, optional
        Training threads (default: all cores Numba sees).
    chunk_size : int, optional
        Runs per chunk of a new store (default 64): the unit of progress and resume.
    progress : bool
        A progress bar with an ETA (plain lines when stderr is not watched) and notes:
        the one-time compile of the trainer, resuming, damaged chunks found. ``False``:
        silent.

    Returns
    -------
    pathlib.Path
        The store; read it with :func:`fastdepth.load`, :func:`fastdepth.load_curves`.

    Raises
    ------
    ConfigError, StoreError
        Bad arguments, a store of another grid, a store locked by a running sweep; before
        anything is trained or written.
    KeyboardInterrupt
        After Ctrl-C, once the chunk in flight is committed: the same call resumes.
    """
    import numba

    p = _plan(grid, out, threads, chunk_size)
    console = Console(quiet=not progress)
    store = Store(p.path)
    make_dir(p.path, "out")
    with store.lock():
        todo = prepare(store, p, threads or numba.get_num_threads(), [COMMAND], console)
        if todo and not train_chunks(store, p, todo, console):
            done = len(store.done_chunks(verify=False))
            raise KeyboardInterrupt(
                f"interrupted: {done}/{len(store.chunks())} chunks are saved in {p.path}; "
                "the same fastdepth.sweep call resumes"
            )
        write_summary(summary_table(load(p.path, timing=False)), p.path)
    console.note(f"store: {p.path} (summary.csv, summary.md; fastdepth.load({str(p.path)!r}))")
    return p.path
