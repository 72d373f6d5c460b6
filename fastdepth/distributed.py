"""Run a sweep's chunks in other processes or on other machines: any Executor, or Dask.

::

    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp
    import fastdepth as fd
    from fastdepth.distributed import run_sweep

    grid = fd.Grid({"depth": [1, 2, 4, 8], "seed": range(50)}, base={"dataset": "rings"})
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:  # spawn_pool(2)
        run_sweep(grid, "runs/rings", executor=pool)
    run_sweep(grid, "runs/rings", scheduler="local:2")             # a Dask LocalCluster
    run_sweep(grid, "runs/rings", scheduler="tcp://head:8786")     # an existing cluster
    run_sweep(grid, "runs/rings", executor=dask_client)            # a distributed.Client
    fd.load("runs/rings")

Command line: ``python -m fastdepth.sweep ... --scheduler local[:N] | tcp://host:8786``.

How it works
------------
The client (the process that calls :func:`run_sweep`, or the sweep CLI) owns the store:
it takes the lock, creates or resumes the store (:func:`fastdepth.runner.open_store`), and
cuts the grid into the store's fixed chunks. Each chunk left to do becomes a
:class:`ChunkTask` (plain dicts of the runs' configs and their expected run ids), which a
worker turns into a :class:`ChunkParts` with :func:`train_chunk`: the same compiled
trainer (:func:`fastdepth.engine.train_many`), then the exact bytes of every part file
(:func:`fastdepth.store.encode_chunk`). This module holds what is specific to executors
and Dask; the tasks, the commit loop and the store session are :mod:`fastdepth.runner`'s.
Results come back as chunks finish, in any order; the client checks each payload (chunk,
start, run ids, every part present) and commits it with
:meth:`fastdepth.store.Store.write_parts`:
atomic writes, then the ``done`` marker. So the store, its lock, resume and atomicity are
exactly those of a local sweep, and since a run's numbers depend only on its config, the
``runs``, ``curves``, ``layers`` and ``params`` files are byte-identical to a local sweep's
(``timing`` holds wall times and differs).

Lost workers. Nothing is written until a whole chunk is back at the client, so a worker
that dies mid-chunk leaves nothing behind. Dask reschedules the tasks of a dead worker on
another one (``distributed.scheduler.allowed-failures``, default 3); if a chunk still ends
in ``KilledWorker``, the client resubmits it, up to :data:`MAX_ATTEMPTS` submissions in
all. A chunk is committed at most once per session (and a repeated commit would write the
same bytes). Any other error in a task (a bug, a version mismatch) stops the sweep; the
committed chunks stay and the same call resumes. A broken ``ProcessPoolExecutor`` cannot
be reused: the sweep stops and resumes with a fresh pool.

Threads. Each chunk runs with a Numba thread count fixed per task:

* ``threads=N`` (``--threads N``): every chunk uses N threads.
* ``scheduler="local:N"``: the client starts ``LocalCluster(n_workers=N,
  threads_per_worker=1, processes=True)`` and sends ``cores // N`` threads with every
  task, so N workers fill the machine without oversubscribing it.
* a ``ProcessPoolExecutor`` / ``ThreadPoolExecutor`` of M workers: ``cores // M``.
* a Dask cluster you started: in the worker, ``NUMBA_NUM_THREADS // nthreads`` if the
  worker's environment sets ``NUMBA_NUM_THREADS``, else 1 thread per chunk, the worker
  running ``nthreads`` chunks at once. Dask gives each worker ``nthreads`` = its share of
  the cores, so neither oversubscribes. For fewer, larger chunks per worker start them as
  ``NUMBA_NUM_THREADS=8 dask worker tcp://head:8786 --nworkers 2 --nthreads 1`` (16 cores).

The count is passed to :func:`fastdepth.engine.train_many`, which starts that many
trainer threads (GIL-free compiled calls, no Numba threading layer), so chunks that share
a process (a thread pool, a Dask worker with ``nthreads > 1``) can run at once.

Compiling. Each worker process compiles (or loads) the trainer once, on its first chunk,
guarded by a process-wide lock. Numba caches the compiled trainer on disk in the package
directory, and processes on one machine share that cache: the client warms it before a
local cluster or process pool starts, so each worker loads the trainer (0.5 s measured on
2 loaded cores) instead of compiling it (34-36 s when two fresh workers compile at once).
Workers on other machines compile on their first chunk unless their install has a warm
cache (run any small sweep there once).

Ctrl-C. Workers of a local cluster ignore SIGINT (a terminal sends it to the whole
process group): the first Ctrl-C lets the chunks in flight finish and be committed, the
second cancels them; either way the cluster is closed and the store resumes.

Security: Dask moves pickled objects between the client, scheduler and workers; unpickling
runs code. Connect only to a scheduler you trust, and use TLS (``tls://`` addresses with
``distributed.security.Security``) on any network you do not control.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Grid
from .runner.chunks import (
    MAX_ATTEMPTS,
    WAIT_NOTE,
    Backend,
    ChunkFailedError,
    ChunkParts,
    ChunkTask,
    InProcess,
    run_chunks,
    train_chunk,
    warm_up,
    worker_threads,
)
from .runner.inputs import host_port, is_this_host, parse_scheduler
from .runner.session import EXECUTOR_CHUNK_SIZE, REMOTE_WARNING, open_store
from .store import Store

__all__ = [
    "DASK_INSTALL",
    "DEFAULT_CHUNK_SIZE",
    "MAX_ATTEMPTS",
    "WAIT_NOTE",
    "ChunkFailedError",
    "ChunkParts",
    "ChunkTask",
    "DaskBackend",
    "DaskNotInstalledError",
    "ExecutorBackend",
    "InProcess",
    "SweepReport",
    "dask_client",
    "parse_scheduler",
    "planned_threads",
    "run_chunks",
    "run_sweep",
    "spawn_pool",
    "train_chunk",
    "worker_threads",
]

DASK_INSTALL = "pip install 'fastdepth[dask]'"
# Where the dashboard of a local cluster listens: this host only, any free port.
DASHBOARD = "127.0.0.1:0"
# Runs per chunk of a new store swept on executors / Dask (see runner.session).
DEFAULT_CHUNK_SIZE = EXECUTOR_CHUNK_SIZE


class DaskNotInstalledError(ImportError):
    """``--scheduler`` / ``scheduler=`` without Dask installed; the message says how."""


# ======================================================================================
# backends: executors and Dask


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ExecutorBackend(Backend):
    """Any :class:`concurrent.futures.Executor` (a process pool, a Dask client's executor)."""

    def __init__(self, executor: cf.Executor) -> None:
        self.executor = executor
        self.name = type(executor).__name__
        if isinstance(executor, cf.ProcessPoolExecutor):
            ctx = getattr(executor, "_mp_context", None)
            method = ctx.get_start_method() if ctx is not None else None
            if method == "fork":
                raise ValueError(
                    "a ProcessPoolExecutor that forks cannot run the compiled trainer safely "
                    "(a child forked while another thread holds a lock, such as Numba's "
                    "compiler lock, can deadlock); create it with "
                    "mp_context=multiprocessing.get_context('spawn') (or 'forkserver')"
                )
        self.local_machine = not type(executor).__module__.startswith("distributed")
        self.workers = getattr(executor, "_max_workers", None)

    def submit(self, task: ChunkTask) -> cf.Future:
        return self.executor.submit(train_chunk, task)

    def slots(self) -> int:
        return 2 * (self.workers or _cores())

    def default_threads(self) -> int | None:
        if self.workers and self.local_machine:
            return max(1, _cores() // self.workers)
        return None


class DaskBackend(ExecutorBackend):
    """A ``distributed.Client``: tasks through its executor, in-flight window from its workers.

    ``threads`` is sent with every task when given (``local:N`` clusters give ``cores //
    N``); otherwise each worker decides (:func:`worker_threads`).
    """

    def __init__(self, client: Any, threads: int | None = None, local: bool = False) -> None:
        super().__init__(client.get_executor(pure=False))
        self.client = client
        self.name = f"dask {client.scheduler.address}"
        self.local_machine = local
        self._threads = threads
        self._slots = (0, -1.0)

    def _nthreads(self, max_age: float = 5.0) -> int:
        """Task slots of the connected workers (refreshed: workers join and leave)."""
        n, when = self._slots
        now = time.monotonic()
        if now - when > max_age:
            info = self.client.scheduler_info(n_workers=-1)
            n = sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())
            self._slots = (n, now)
        return n

    def slots(self) -> int:
        return 2 * max(self._nthreads(), 1)

    def default_threads(self) -> int | None:
        return self._threads

    def waiting(self) -> str | None:
        if self._nthreads(max_age=0.0) == 0:
            return (
                f"no Dask workers are connected to {self.client.scheduler.address}; waiting "
                "for some (Ctrl-C to stop; the committed chunks are kept)"
            )
        return None


# ======================================================================================
# Dask clusters


def _import_dask() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise DaskNotInstalledError(
            f"running on a Dask cluster needs Dask: {DASK_INSTALL} ({e})"
        ) from None
    return distributed


def planned_threads(scheduler: str, threads: int | None = None) -> int | None:
    """Numba threads per chunk for ``scheduler``: ``threads``, or ``cores // N`` for
    ``local:N``, or None (each worker of a running cluster decides: :func:`worker_threads`).
    """
    kind, value = parse_scheduler(scheduler)
    if threads is not None or kind != "local":
        return threads
    return max(1, _cores() // (value or _cores()))


def _ignore_sigint_class() -> type:
    """The worker plugin class (built on first use: importing Dask is slow and optional)."""
    cls = globals().get("_IgnoreSigintPlugin")
    if cls is not None:
        return cls
    from distributed.diagnostics.plugin import WorkerPlugin

    class _IgnoreSigintPlugin(WorkerPlugin):
        """A worker of a local cluster ignores SIGINT: Ctrl-C is the client's.

        A terminal's Ctrl-C goes to the whole process group, workers included; the client
        then finishes the chunks in flight (first Ctrl-C) or cancels them (second) and
        closes the cluster. The first workers inherit SIG_IGN (:func:`_sigint_ignored`);
        this covers the ones a nanny restarts.
        """

        name = "fastdepth-ignore-sigint"
        idempotent = True

        def setup(self, worker: Any) -> None:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    _IgnoreSigintPlugin.__module__ = __name__
    globals()["_IgnoreSigintPlugin"] = _IgnoreSigintPlugin
    return _IgnoreSigintPlugin


def __getattr__(name: str) -> Any:  # lets workers unpickle the plugin by reference
    if name == "_IgnoreSigintPlugin":
        return _ignore_sigint_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while processes are spawned: they inherit it (exec keeps SIG_IGN)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def dask_client(
    scheduler: str,
    threads: int | None = None,
    dashboard: str | None = None,
    warn: Callable[[str], None] | None = None,
    **cluster_kwargs: Any,
) -> Iterator[DaskBackend]:
    """A :class:`DaskBackend` for ``scheduler``; closes what it started on exit.

    ``"local[:N]"`` starts ``LocalCluster(n_workers=N, threads_per_worker=1,
    processes=True)`` (N defaults to the cores this process may use) and gives every chunk
    ``threads or cores // N`` Numba threads; its scheduler and dashboard listen on
    loopback only (``dashboard`` = e.g. ``":8787"`` exposes the dashboard on every
    interface: only on a network you trust). An address connects a ``Client`` to an
    existing scheduler (TLS settings come from Dask's configuration, see the README);
    one on another host is reported to ``warn`` (default :func:`warnings.warn`): Dask
    moves pickles, which run code.

    Raises
    ------
    DaskNotInstalledError
        Without Dask (the message says how to install it).
    """
    kind, value = parse_scheduler(scheduler)
    distributed = _import_dask()
    if kind == "local":
        n = value or _cores()
        # loopback only unless asked: the dashboard shows (and the scheduler takes) anything
        kw = {"n_workers": n, "threads_per_worker": 1, "processes": True,
              "host": "127.0.0.1", "dashboard_address": dashboard or DASHBOARD,
              **cluster_kwargs}  # fmt: skip
        per_chunk = planned_threads(scheduler, threads)
        with _sigint_ignored():
            cluster = distributed.LocalCluster(**kw)
        with cluster, distributed.Client(cluster) as client:
            plugin = _ignore_sigint_class()()
            client.register_plugin(plugin, name=plugin.name)
            yield DaskBackend(client, threads=per_chunk, local=True)
    else:
        host = host_port(str(value))
        if host is not None and not is_this_host(host[0]):
            (warn or (lambda m: warnings.warn(m, stacklevel=3)))(
                REMOTE_WARNING.format(spec=scheduler)
            )
        with distributed.Client(value, **cluster_kwargs) as client:
            yield DaskBackend(client, threads=threads, local=False)


# ======================================================================================
# the library entry point


# ======================================================================================
# the library entry point


_COMMAND = "fastdepth.distributed.run_sweep"  # recorded in the manifest


@dataclass
class SweepReport:
    """What :func:`run_sweep` did: the store, chunks committed now, time, workers seen."""

    path: Path
    n_chunks: int
    trained_chunks: int
    seconds: float
    backend: str
    workers: dict[str, int] = field(default_factory=dict)  # "host:pid" -> chunks
    chunk_seconds: list[float] = field(default_factory=list)  # train time per chunk
    complete: bool = True


def _backend_for(executor: Any) -> Backend:
    if executor is None:
        return InProcess()
    if isinstance(executor, Backend):
        return executor
    if isinstance(executor, cf.Executor):
        return ExecutorBackend(executor)
    if type(executor).__name__ == "Client" and hasattr(executor, "get_executor"):
        return DaskBackend(executor)
    raise TypeError(
        f"executor must be a concurrent.futures.Executor or a distributed.Client, "
        f"got {type(executor).__name__}"
    )


def run_sweep(
    grid: Grid,
    out: str | os.PathLike,
    *,
    executor: cf.Executor | Any | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    chunk_size: int | None = None,
    warm_cache: bool | None = None,
    progress: Callable[[ChunkParts], None] | None = None,
    dashboard: str | None = None,
) -> SweepReport:
    """Sweep ``grid`` into the store ``out`` on an executor or a Dask cluster.

    The store is the one :mod:`fastdepth.sweep` writes (same lock, resume and files, the
    summary included once every chunk is in): an existing store with the same grid is
    resumed, and the result is byte-identical to a local sweep's. Read it with
    :func:`fastdepth.load`. Without an executor, :func:`fastdepth.sweep` does the same with a
    progress bar.

    Parameters
    ----------
    grid : Grid
    out : path
        Store directory (created, or resumed).
    executor : concurrent.futures.Executor or distributed.Client, optional
        Where chunks run: a ``ProcessPoolExecutor`` (use a ``spawn`` or ``forkserver``
        context), a Dask ``Client`` or its ``client.get_executor()``. Default: this
        process, chunk after chunk.
    scheduler : str, optional
        Instead of ``executor``: ``"local[:N]"`` (a LocalCluster started and closed here)
        or a scheduler address ``"tcp://host:8786"``. Needs Dask.
    threads : int, optional
        Numba threads per chunk (default: the executor's share of the cores; see the
        module docs).
    chunk_size : int, optional
        Runs per chunk of a new store (default :data:`DEFAULT_CHUNK_SIZE`); an existing
        store keeps its own (a different value is a :class:`~fastdepth.store.StoreError`).
    warm_cache : bool, optional
        Compile the trainer in this process first so that workers on this machine load it
        from Numba's on-disk cache (default: when the workers are on this machine).
    progress : callable, optional
        Called with each committed :class:`ChunkParts`.
    dashboard : str, optional
        With ``scheduler="local[:N]"``: where the Dask dashboard listens (default
        :data:`DASHBOARD`, this host only); ``":8787"`` exposes it on every interface.

    Returns
    -------
    SweepReport
    """
    if executor is not None and scheduler is not None:
        raise ValueError("give executor or scheduler, not both")
    if scheduler is not None:
        with dask_client(scheduler, threads=threads, dashboard=dashboard) as backend:
            return run_sweep(grid, out, executor=backend, threads=threads,
                             chunk_size=chunk_size, warm_cache=warm_cache,
                             progress=progress)  # fmt: skip
    backend = _backend_for(executor)
    threads = threads if threads is not None else backend.default_threads()
    store = Store(out)
    store.path.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report = SweepReport(store.path, 0, 0, 0.0, backend.name)

    def committed(parts: ChunkParts) -> None:
        report.trained_chunks += 1
        who = f"{parts.host}:{parts.pid}"
        report.workers[who] = report.workers.get(who, 0) + 1
        report.chunk_seconds.append(parts.seconds)
        if progress is not None:
            progress(parts)

    with store.lock():
        todo = open_store(store, grid, chunk_size, threads or 0, [_COMMAND],
                          default_chunk_size=DEFAULT_CHUNK_SIZE)  # fmt: skip
        report.n_chunks = len(store.chunks())
        if todo and (warm_cache if warm_cache is not None else backend.local_machine):
            warm_up(set(grid.distinct("dtype")), curvature=grid.distinct("measures_sharpness"),
                    regions=grid.distinct("count_regions"))  # fmt: skip
        report.complete = run_chunks(store, grid, todo, backend, threads=threads,
                                     on_chunk=committed)  # fmt: skip
        if report.complete:  # the same summary.csv / summary.md as the sweep command
            from .store import load
            from .summary import summary_table, write_summary

            write_summary(summary_table(load(store.path, timing=False)), store.path)
    report.seconds = time.perf_counter() - t0
    return report


def spawn_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of ``workers`` processes safe for the compiled trainer."""
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
