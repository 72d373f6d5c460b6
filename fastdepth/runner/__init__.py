"""Running a sweep into a store, shared by the command line and the Dask / executor path.

==================  ==================================================================
:mod:`.chunks`      chunk tasks and results, :func:`train_chunk`, the one trainer
                    warm-up, the in-process backend, the commit loop :func:`run_chunks`
:mod:`.session`     chunk sizes, :func:`plan`, :func:`open_store` (create or resume),
                    :func:`train_chunks` (progress, signals, backend)
:mod:`.progress`    notes, progress bar / lines with a cost-weighted ETA, Ctrl-C
==================  ==================================================================
"""

from __future__ import annotations

from .chunks import (
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
from .session import (
    DEFAULT_CHUNK_SIZE,
    EXECUTOR_CHUNK_SIZE,
    Plan,
    UsageError,
    open_store,
    plan,
    train_chunks,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "EXECUTOR_CHUNK_SIZE",
    "Backend",
    "ChunkFailedError",
    "ChunkParts",
    "ChunkTask",
    "InProcess",
    "Plan",
    "UsageError",
    "open_store",
    "plan",
    "run_chunks",
    "train_chunk",
    "train_chunks",
    "warm_up",
    "worker_threads",
]
