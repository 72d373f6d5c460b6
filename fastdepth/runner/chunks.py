"""Chunks of a sweep: the task a worker trains, what it sends back, where it runs, the commit loop.

The process that owns a store (the sweep CLI, or :func:`fastdepth.distributed.run_sweep`)
cuts the grid into the store's chunks. Each chunk left to do becomes a :class:`ChunkTask`
(plain dicts of the runs' configs and their expected run ids), which a worker turns into a
:class:`ChunkParts` with :func:`train_chunk`: the compiled trainer
(:func:`fastdepth.engine.train_many`), then the exact bytes of every part file
(:func:`fastdepth.store.encode_chunk`). :func:`run_chunks` submits the tasks to a
backend (:class:`InProcess` here; executors and Dask in :mod:`fastdepth.distributed`),
checks each payload and commits it with :meth:`fastdepth.store.Store.write_parts`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastdepth import __version__
from fastdepth.config import ConfigError, RunConfig
from fastdepth.store import PART_DIRS, Store, encode_chunk

__all__ = [
    "MAX_ATTEMPTS",
    "WAIT_NOTE",
    "Backend",
    "ChunkFailedError",
    "ChunkParts",
    "ChunkTask",
    "InProcess",
    "run_chunks",
    "train_chunk",
    "warm_up",
    "worker_threads",
]

# Submissions of one chunk whose worker was lost (KilledWorker) before the sweep gives up.
MAX_ATTEMPTS = 3
# Seconds without a finished chunk after which the client checks that workers exist.
WAIT_NOTE = 30.0
# Seconds of compiling after which the warm-up says what it is doing.
WARM_NOTE_AFTER = 3.0


class ChunkFailedError(RuntimeError):
    """A chunk failed on a worker (or came back malformed); committed chunks are kept."""


# ======================================================================================
# the worker side


@dataclass(frozen=True)
class ChunkTask:
    """One chunk of a sweep, as sent to a worker: plain data, no fastdepth objects.

    Attributes
    ----------
    chunk, start : int
        Chunk index and grid position of its first run.
    runs : tuple of dict
        ``RunConfig.to_dict()`` of each run, in grid order.
    run_ids : tuple of str
        The client's run ids; the worker refuses the chunk if its configs hash otherwise
        (a different fastdepth version on the worker).
    threads : int or None
        Numba threads for the chunk (None: the worker's default, see the module docs).
    version : str
        The client's fastdepth version; must equal the worker's.
    """

    chunk: int
    start: int
    runs: tuple[dict[str, Any], ...]
    run_ids: tuple[str, ...]
    threads: int | None = None
    version: str = __version__


@dataclass
class ChunkParts:
    """A trained chunk as the worker returns it: the bytes of every part file.

    ``parts`` maps each of :data:`fastdepth.store.PART_DIRS` to the file's bytes. The
    rest is for checks, progress and measurements: ``seconds`` trained (``train_many``),
    ``encode_seconds``, ``warm_seconds`` (compiling / loading the trainer, first chunk of a
    process only), ``threads`` used, and the worker's ``host`` and ``pid``.
    """

    chunk: int
    start: int
    run_ids: tuple[str, ...]
    parts: dict[str, bytes]
    seconds: float
    encode_seconds: float
    warm_seconds: float
    threads: int
    host: str
    pid: int

    @property
    def n_runs(self) -> int:
        return len(self.run_ids)

    @property
    def nbytes(self) -> int:
        return sum(len(b) for b in self.parts.values())


# ======================================================================================
# compiling: once per process


_PROCESS_LOCK = threading.Lock()  # one compile (or cache load) of the trainer per process
# what this process has compiled or loaded: (dtype, curvature) for a trainer, (dtype,
# curvature, count_regions mode) for the region counts' kernels
_READY: set[tuple] = set()


@contextlib.contextmanager
def _after(seconds: float, fn: Callable[[], None] | None) -> Iterator[None]:
    """Call ``fn`` from a timer thread if the block is still running after ``seconds``."""
    if fn is None:
        yield
        return
    timer = threading.Timer(seconds, fn)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def warm_up(
    dtypes: set[str],
    note: Callable[[str], None] | None = None,
    curvature: Iterable[bool] = (False,),
    regions: Iterable[str] = (),
) -> float:
    """Compile (or load from Numba's on-disk cache) what a study's runs need, once a process.

    The sweep CLI calls it before its first chunk, so rate and ETA describe training; a
    client calls it before local workers start, so that they load the trainer from the
    disk cache instead of each compiling it; a worker calls it on its first chunk.

    Parameters
    ----------
    dtypes : set of str
        Run dtypes (``'float64'``, ``'float32'``).
    note : callable, optional
        Told what is happening when compiling takes more than a few seconds.
    curvature : iterable of bool
        Which trainers: ``False`` the plain one, ``True`` the one that measures the
        sharpness (``RunConfig.measures_sharpness``; ``grid.distinct('measures_sharpness')``
        gives a grid's). A batch with any measuring run uses the second for all its runs.
    regions : iterable of str
        The runs' ``count_regions`` modes: the region counts' kernels are compiled too
        (``'off'`` needs none).

    Returns
    -------
    float
        Seconds spent (0.0 when this process was ready already).
    """
    kinds = {bool(c) for c in curvature} or {False}
    todo = {(dt, c) for dt in dtypes for c in kinds}
    # a mode's kernels, warmed with a trainer the study compiles anyway
    todo |= {(dt, max(kinds), m) for dt in dtypes for m in set(regions) - {"off"}}
    todo -= _READY
    if not todo:
        return 0.0
    from fastdepth.engine import train_many

    needed = {t[1] for t in todo if len(t) == 2}
    what, eta = {
        frozenset(): ("", "~5-10 s"),
        frozenset({False}): ("the trainer", "~10-20 s"),
        frozenset({True}): ("the trainer with the sharpness", "~20-40 s"),
    }.get(frozenset(needed), ("the trainers with and without the sharpness", "~30-50 s"))
    if any(len(t) == 3 for t in todo):
        what = f"{what} and the region counts" if what else "the region counts"
    msg = f"compiling {what} (first use only; {eta}, cached on disk afterwards)..."
    with _PROCESS_LOCK, _after(WARM_NOTE_AFTER, note and (lambda: note(msg))):
        t = time.perf_counter()
        for key in sorted(todo - _READY, key=len):  # the trainers first
            dt, c, mode = (*key, "off")[:3]
            tiny = RunConfig(n_train=8, n_test=8, depth=1, width=2, epochs=1, dtype=dt,
                             sharpness_every=1 if c else 0, count_regions=mode)  # fmt: skip
            train_many([tiny], threads=1, progress=False)
            _READY.add(key)
        took = time.perf_counter() - t
    if note is not None and took > WARM_NOTE_AFTER:
        note(f"{what} ready after {took:.0f} s")
    return took


# ======================================================================================
# the worker side


def _dask_worker() -> Any | None:
    """The Dask worker running this task, or None (Dask not imported: not a worker)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_worker()
    except ValueError:
        return None


def worker_threads(threads: int | None) -> int | None:
    """The Numba thread count a chunk uses in this process (see the module docs)."""
    import numba

    cap = numba.config.NUMBA_NUM_THREADS
    if threads is not None:
        return max(1, min(int(threads), cap))
    worker = _dask_worker()
    if worker is None:
        return None  # Numba's default
    slots = max(1, int(worker.state.nthreads))
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    share = int(env) // slots if env.isdigit() else 1
    return max(1, min(share, cap))


def train_chunk(task: ChunkTask) -> ChunkParts:
    """Train one chunk and encode its part files (runs in a worker; any process will do).

    Parameters
    ----------
    task : ChunkTask

    Returns
    -------
    ChunkParts
        Everything the client needs to commit the chunk; nothing is written here.
    """
    if task.version != __version__:
        raise ConfigError(
            f"fastdepth {__version__} on worker {socket.gethostname()} but {task.version} on "
            "the client: install the same version everywhere (results would differ)"
        )
    from fastdepth.engine import train_many

    runs = [RunConfig.from_dict(d) for d in task.runs]
    ids = tuple(r.run_id for r in runs)
    if ids != tuple(task.run_ids):
        raise ConfigError(
            f"chunk {task.chunk}: run ids differ between the client and worker "
            f"{socket.gethostname()} (different fastdepth or NumPy versions?)"
        )
    # one batch: a measuring run makes the whole batch use the curvature trainer
    warm = warm_up({r.dtype for r in runs}, curvature={any(r.measures_sharpness for r in runs)},
                   regions={r.count_regions for r in runs})  # fmt: skip
    threads = worker_threads(task.threads)
    import numba

    used = threads if threads is not None else numba.get_num_threads()
    t = time.perf_counter()
    results = train_many(runs, threads=threads, progress=False)  # the sweep shows progress
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    parts = encode_chunk(results, task.start, task.chunk, seconds, used)
    return ChunkParts(
        chunk=task.chunk, start=task.start, run_ids=ids, parts=parts, seconds=seconds,
        encode_seconds=time.perf_counter() - t, warm_seconds=warm, threads=int(used),
        host=socket.gethostname(), pid=os.getpid(),
    )  # fmt: skip


# ======================================================================================
# backends: where chunks run


class Backend:
    """Submit chunk tasks, know how many to keep in flight, tell lost workers from bugs."""

    name = "local"
    local_machine = True  # workers share this machine (and its Numba cache)

    def submit(self, task: ChunkTask) -> cf.Future:
        raise NotImplementedError

    def slots(self) -> int:
        return 1

    def default_threads(self) -> int | None:
        return None

    def waiting(self) -> str | None:
        """Why no chunk came back for :data:`WAIT_NOTE` seconds, if something is wrong."""
        return None

    def lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the worker died (retry) rather than the task failed."""
        return type(exc).__name__ == "KilledWorker" or isinstance(exc, cf.CancelledError)


class InProcess(Backend):
    """Train each chunk in this process when it is submitted (the plain local sweep).

    Errors propagate from :meth:`submit` unchanged, as from ``train_many`` itself (so the
    CLI's Ctrl-C / SIGTERM exceptions keep their meaning).
    """

    def submit(self, task: ChunkTask) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        fut.set_result(train_chunk(task))
        return fut


# ======================================================================================
# the client loop


def _check(parts: Any, task: ChunkTask) -> ChunkParts:
    """The payload is the whole chunk that was asked for, or :class:`ChunkFailedError`."""
    ok = (
        isinstance(parts, ChunkParts)
        and parts.chunk == task.chunk
        and parts.start == task.start
        and tuple(parts.run_ids) == tuple(task.run_ids)
        and sorted(parts.parts) == sorted(PART_DIRS)
        and all(isinstance(b, bytes) and b for b in parts.parts.values())
    )
    if not ok:
        raise ChunkFailedError(f"chunk {task.chunk}: the worker returned an incomplete result")
    return parts


def _task(runs: Sequence[RunConfig], k: int, a: int, b: int, threads: int | None) -> ChunkTask:
    part = runs[a:b]
    return ChunkTask(chunk=k, start=a, runs=tuple(r.to_dict() for r in part),
                     run_ids=tuple(r.run_id for r in part), threads=threads)  # fmt: skip


def run_chunks(
    store: Store,
    runs: Sequence[RunConfig],
    todo: Sequence[tuple[int, int, int]],
    backend: Backend,
    *,
    threads: int | None = None,
    on_chunk: Callable[[ChunkParts], None] | None = None,
    stop: Callable[[], bool] | None = None,
    note: Callable[[str], None] | None = None,
) -> bool:
    """Train the chunks ``todo`` (``(chunk, start, stop)``) on ``backend``; commit each.

    The caller holds the store's lock. At most ``backend.slots()`` chunks are in flight;
    each is committed by this thread as soon as it is back (any order). ``stop()`` true
    means: submit nothing more, commit what is in flight, return False. Lost workers are
    retried (module docs); other task errors raise :class:`ChunkFailedError`. On any
    exception the chunks still in flight are cancelled, and nothing of them is written.

    Returns
    -------
    bool
        True if every chunk in ``todo`` is committed.
    """
    stop = stop or (lambda: False)
    note = note or (lambda msg: None)
    if threads is None:
        threads = backend.default_threads()
    queue = deque(todo)
    pending: dict[cf.Future, tuple[ChunkTask, int]] = {}
    committed: set[int] = set()
    try:
        while queue or pending:
            while queue and not stop() and len(pending) < backend.slots():
                k, a, b = queue.popleft()
                task = _task(runs, k, a, b, threads)
                pending[backend.submit(task)] = (task, 1)
            if not pending:
                break
            done, _ = cf.wait(list(pending), timeout=WAIT_NOTE, return_when=cf.FIRST_COMPLETED)
            if not done:
                msg = backend.waiting()
                if msg:
                    note(msg)
                continue
            for fut in sorted(done, key=lambda f: pending[f][0].chunk):
                task, attempt = pending.pop(fut)
                try:
                    parts = _check(fut.result(), task)
                except Exception as e:
                    if backend.lost(e) and attempt < MAX_ATTEMPTS:
                        note(f"chunk {task.chunk}: its worker was lost ({type(e).__name__}); "
                             f"resubmitting (attempt {attempt + 1} of {MAX_ATTEMPTS})")  # fmt: skip
                        pending[backend.submit(task)] = (task, attempt + 1)
                        continue
                    if isinstance(e, ChunkFailedError):
                        raise
                    if isinstance(e, cf.BrokenExecutor):
                        raise ChunkFailedError(
                            f"chunk {task.chunk}: {backend.name} broke ({e}); the committed "
                            "chunks are kept: run again with a new executor to resume"
                        ) from e
                    raise ChunkFailedError(
                        f"chunk {task.chunk} (runs {task.start}..{task.start + len(task.runs)}) "
                        f"failed on {backend.name}: {type(e).__name__}: {e}"
                    ) from e
                if task.chunk in committed:  # a duplicate answer: already on disk
                    continue
                store.write_parts(task.chunk, task.start, parts.n_runs, parts.parts)
                committed.add(task.chunk)
                if on_chunk is not None:
                    on_chunk(parts)
    finally:
        for fut in pending:
            fut.cancel()
    return not queue
