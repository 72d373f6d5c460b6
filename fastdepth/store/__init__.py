"""The results store: one directory per sweep, written chunk by chunk, safe to kill and resume.

Layout of a store directory::

    manifest.json              grid, versions, CPU, threads, git commit, chunking, sessions
    sweep.lock                 present while a sweep writes here: owner pid, host, start time
    runs/part-00000.parquet    one row per run (RUNS_SCHEMA)
    curves/part-00000.parquet  long: run_id, step, loss, grad norm, accuracies (CURVES_SCHEMA)
    layers/part-00000.parquet  long format: run_id, step, layer, grad_norm, dead, act_sq,
                               saturated
    params/part-00000.npz      final parameters: ``<run_id>/W<k>``, ``<run_id>/b<k>``; with
                               snapshot_every > 0 also ``<run_id>/snapshots`` (packed weights,
                               one row per snapshot) and ``<run_id>/snapshot_steps``
    timing/part-00000.parquet  wall time per run and per chunk (TIMING_SCHEMA)
    done/chunk-00000           commit marker of chunk 0, written last: size + SHA-256 of parts
    summary.csv, summary.md    across-seeds summary (written by the sweep CLI)

The grid, in its deterministic order, is cut into fixed chunks (:func:`chunk_bounds`, a pure
function of the grid size and the chunk size stored in the manifest). Every file of a chunk
is written under a temporary name and renamed (``os.replace``); the ``done/chunk-XXXXX``
marker is renamed into place last and is the commit point. Readers only read chunks with a
marker, so a crash never exposes a partial chunk; a resumed sweep re-trains every chunk
without a marker and overwrites whatever part of it was written. Results depend only on each
run's config (see :func:`fastdepth.engine.train_many`) and the files carry no timestamps, so
``runs``, ``curves``, ``layers`` and ``params`` of a killed-and-resumed sweep are
byte-identical to an uninterrupted one; wall times, which cannot be, live in ``timing``.
The manifest is written first, so a kill while the store is created leaves either a
directory the same command starts afresh in or a store it resumes.

Nothing read is trusted blindly: every part is checked against the size and SHA-256 in
its marker (and Parquet page checksums) before it is decoded, so damage raises
:class:`StoreCorruptError` naming the file instead of returning other numbers; a resumed
sweep re-trains a damaged chunk (:meth:`Store.done_chunks` verifies); :func:`verify`
checks a whole store on demand; reading an incomplete store warns
(:class:`StoreIncompleteWarning`).

Nothing is pickled: Parquet tables with one explicit schema each, ``.npz`` archives of plain
arrays (read with ``allow_pickle=False``), JSON.

Modules: :mod:`~fastdepth.store.schema` (file names, chunking, table schemas),
:mod:`~fastdepth.store.codec` (results -> part bytes), :mod:`~fastdepth.store.files`
(atomic writes, the fault-injection hook), :mod:`~fastdepth.store.lock`,
:mod:`~fastdepth.store.provenance` (environment, git, CPU), :mod:`~fastdepth.store.grids`
(grid differences), :mod:`~fastdepth.store.integrity` (digests, the marker format, decode
checks), :mod:`~fastdepth.store.commits` (which chunks are committed and sound),
:mod:`~fastdepth.store.directory` (the :class:`Store`), :mod:`~fastdepth.store.read`
(``load`` & co., one store or several), :mod:`~fastdepth.store.select` (filters, float
tolerance), :mod:`~fastdepth.store.frames` (the loaders' tables; ``frame`` of results in
memory), :mod:`~fastdepth.store.verify`, :mod:`~fastdepth.store.errors`.
Everything public is importable from ``fastdepth.store``.
"""

from __future__ import annotations

from .codec import (
    COMPRESSION,
    ROW_GROUP_SIZE,
    curves_tables,
    encode_chunk,
    runs_table,
    timing_table,
)
from .directory import Store
from .errors import (
    GridMismatchError,
    StoreCorruptError,
    StoreCorruptWarning,
    StoreError,
    StoreIncompleteWarning,
    StoreLockedError,
    StoreSchemaWarning,
)
from .files import atomic_write, atomic_write_text
from .grids import grid_differences
from .lock import StoreLock
from .provenance import environment
from .read import (
    frame,
    load,
    load_curves,
    load_layers,
    load_manifest,
    load_params,
    load_snapshots,
    load_timing,
)
from .schema import (
    CONFIG_COLUMNS,
    CURVE_METRICS,
    CURVES_SCHEMA,
    DONE,
    FORMAT,
    LAYER_METRICS,
    LAYERS_SCHEMA,
    LOCK,
    MANIFEST,
    PART_DIRS,
    REGION_COLUMNS,
    RUNS_SCHEMA,
    SCHEMA_VERSION,
    SCHEMAS,
    SUMMARY_COLUMNS,
    TABLES,
    TIMING_SCHEMA,
    chunk_bounds,
)
from .select import FLOAT_RTOL, NoMatchWarning
from .verify import VerifyReport, verify

__all__ = [
    "COMPRESSION",
    "CONFIG_COLUMNS",
    "CURVES_SCHEMA",
    "CURVE_METRICS",
    "DONE",
    "FORMAT",
    "LAYERS_SCHEMA",
    "LAYER_METRICS",
    "LOCK",
    "MANIFEST",
    "PART_DIRS",
    "REGION_COLUMNS",
    "ROW_GROUP_SIZE",
    "RUNS_SCHEMA",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "SUMMARY_COLUMNS",
    "TABLES",
    "TIMING_SCHEMA",
    "GridMismatchError",
    "Store",
    "StoreCorruptError",
    "StoreCorruptWarning",
    "StoreError",
    "StoreIncompleteWarning",
    "StoreLock",
    "StoreLockedError",
    "StoreSchemaWarning",
    "NoMatchWarning",
    "FLOAT_RTOL",
    "atomic_write",
    "atomic_write_text",
    "chunk_bounds",
    "curves_tables",
    "encode_chunk",
    "environment",
    "grid_differences",
    "load",
    "load_curves",
    "load_layers",
    "load_manifest",
    "load_params",
    "load_snapshots",
    "load_timing",
    "frame",
    "runs_table",
    "timing_table",
    "verify",
    "VerifyReport",
]
