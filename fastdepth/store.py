"""The results store: one directory per sweep, written chunk by chunk, safe to kill and resume.

Layout of a store directory::

    manifest.json              grid, versions, CPU, threads, git commit, chunking, sessions
    sweep.lock                 present while a sweep writes here: owner pid, host, start time
    runs/part-00000.parquet    one row per run (RUNS_SCHEMA)
    curves/part-00000.parquet  long: run_id, step, loss, grad norm, accuracies (CURVES_SCHEMA)
    layers/part-00000.parquet  long format: run_id, step, layer, grad_norm, dead, act_sq
    params/part-00000.npz      final parameters: ``<run_id>/W<k>``, ``<run_id>/b<k>``
    timing/part-00000.parquet  wall time per run and per chunk (TIMING_SCHEMA)
    done/chunk-00000           commit marker of chunk 0, written last
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

Nothing is pickled: Parquet tables with one explicit schema each, ``.npz`` archives of plain
arrays (read with ``allow_pickle=False``), JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import os
import platform
import socket
import subprocess
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from . import __version__
from .config import ConfigError, Grid, RunConfig
from .kernels.vocab import unknown_message
from .result import RunResult

try:  # POSIX only; without it lock take-over is merely less race-proof
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CURVES_SCHEMA",
    "LAYERS_SCHEMA",
    "RUNS_SCHEMA",
    "TIMING_SCHEMA",
    "GridMismatchError",
    "Store",
    "StoreError",
    "StoreLock",
    "StoreLockedError",
    "chunk_bounds",
    "encode_chunk",
    "grid_differences",
    "load",
    "load_curves",
    "load_layers",
    "load_manifest",
    "load_params",
    "load_timing",
]

FORMAT = "fastdepth-sweep-store"
# 2: runs gained residual_init, final_output_std and collapsed. Parts of an older store
# still load (missing columns read as null) but are never mixed with newer parts.
SCHEMA_VERSION = 2
MANIFEST = "manifest.json"
LOCK = "sweep.lock"
DONE = "done"
TABLES = ("runs", "curves", "layers", "timing")  # Parquet tables, one part per chunk
PART_DIRS = ("runs", "curves", "layers", "params", "timing")
# Fixed so the bytes of a part depend only on its rows (pyarrow's default could change).
ROW_GROUP_SIZE = 1 << 17
COMPRESSION = "zstd"
# Fixed zip entry time (the zip epoch): np.savez stamps the current time into every entry,
# which would make the params of a resumed sweep differ from an uninterrupted one.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class StoreError(RuntimeError):
    """A store cannot be used as asked; the message says why and what to do."""


class StoreLockedError(StoreError):
    """Another live sweep holds the store's lock."""


class GridMismatchError(StoreError):
    """The store holds a different grid than the one requested."""


# ======================================================================================
# schemas


def _config_type(field: dataclasses.Field) -> pa.DataType:
    """Arrow type of a RunConfig field, from its annotation (``float | None`` -> float64)."""
    if field.name == "widths":
        return pa.string()  # hidden widths "16,16,16": one hashable, filterable value
    if field.name == "dataset_params":
        return pa.string()  # JSON object with sorted keys
    base = str(field.type).replace(" ", "").removesuffix("|None")
    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    if base not in types:  # a new RunConfig field with a new kind of type: decide explicitly
        raise TypeError(f"no Parquet column type for RunConfig.{field.name}: {field.type}")
    return types[base]


CONFIG_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))

# Named "element" as Parquet names list items, so a part's schema reads back equal.
_LIST = pa.list_(pa.field("element", pa.float64()))
# Every key of fastdepth.metrics.summarize except "status" (its own column), in its order.
# Explicit on purpose: a Parquet schema must not depend on what the first run happened to
# return. tests/test_store.py checks this list against summarize().
SUMMARY_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("diverged", pa.bool_()),
    ("diverged_step", pa.int64()),
    ("final_train_loss", pa.float64()),
    ("final_train_acc", pa.float64()),
    ("final_test_loss", pa.float64()),
    ("final_test_acc", pa.float64()),
    ("last_good_test_acc", pa.float64()),
    ("best_test_acc", pa.float64()),
    ("best_train_loss", pa.float64()),
    ("initial_loss", pa.float64()),
    ("min_loss", pa.float64()),
    ("grad_norm_mean", pa.float64()),
    ("grad_norm_std", pa.float64()),
    ("grad_norm_cv", pa.float64()),
    ("grad_norm_init", pa.float64()),
    ("layer_grad_norm_mean", _LIST),
    ("layer_grad_norm_cv", _LIST),
    ("layer_grad_norm_init", _LIST),
    ("signal_norm_init", _LIST),
    ("up_fraction", pa.float64()),
    ("tv_ratio", pa.float64()),
    ("dead_frac_init", pa.float64()),
    ("dead_frac_init_max", pa.float64()),
    ("dead_frac_end", pa.float64()),
    ("layer_dead_init", _LIST),
    ("layer_dead_end", _LIST),
    ("born_dead", pa.bool_()),
    ("final_output_std", pa.float64()),
    ("collapsed", pa.bool_()),
)


def _schema(table: str, fields: Iterable[tuple[str, pa.DataType]]) -> pa.Schema:
    meta = {b"fastdepth.table": table.encode(), b"fastdepth.schema": str(SCHEMA_VERSION).encode()}
    return pa.schema(list(fields), metadata=meta)


RUNS_SCHEMA = _schema(
    "runs",
    [
        ("run_index", pa.int64()),  # position in the grid order
        ("run_id", pa.string()),
        ("chunk", pa.int64()),
        ("status", pa.string()),
        *((f.name, _config_type(f)) for f in dataclasses.fields(RunConfig)),
        *SUMMARY_COLUMNS,
    ],
)
CURVE_METRICS = ("loss", "grad_norm", "train_loss", "train_acc", "test_loss", "test_acc")
CURVES_SCHEMA = _schema(
    "curves",
    [("run_id", pa.string()), ("step", pa.int64()), *((c, pa.float64()) for c in CURVE_METRICS)],
)
LAYERS_SCHEMA = _schema(
    "layers",
    [
        ("run_id", pa.string()),
        ("step", pa.int64()),
        ("layer", pa.int64()),  # 0 = first hidden layer, depth = output layer
        ("grad_norm", pa.float64()),
        ("dead", pa.float64()),  # hidden layers only (NaN for the output layer)
        ("act_sq", pa.float64()),  # hidden layers only
    ],
)
TIMING_SCHEMA = _schema(
    "timing",
    [
        ("run_id", pa.string()),
        ("chunk", pa.int64()),
        ("wall_time", pa.float64()),  # the chunk's seconds shared in proportion to FLOPs
        ("chunk_seconds", pa.float64()),  # train_many wall time of the whole chunk
        ("threads", pa.int64()),
    ],
)
SCHEMAS = {"runs": RUNS_SCHEMA, "curves": CURVES_SCHEMA, "layers": LAYERS_SCHEMA,
           "timing": TIMING_SCHEMA}  # fmt: skip


# ======================================================================================
# chunks and rows


def chunk_bounds(n_runs: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: grid positions of every chunk, in order.

    A pure function of the grid size and the chunk size, so a resumed sweep cuts the grid
    exactly as the interrupted one did.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [(a, min(a + chunk_size, n_runs)) for a in range(0, n_runs, chunk_size)]


def _run_row(index: int, chunk: int, res: RunResult) -> dict[str, Any]:
    cfg = res.config
    row: dict[str, Any] = {
        "run_index": index,
        "run_id": res.run_id,
        "chunk": chunk,
        "status": res.status,
    }
    for name in CONFIG_COLUMNS:
        row[name] = getattr(cfg, name)
    row["widths"] = ",".join(str(w) for w in cfg.hidden_widths)
    row["dataset_params"] = json.dumps(cfg.dataset_kwargs, sort_keys=True)
    for name, _ in SUMMARY_COLUMNS:
        row[name] = res.summary.get(name)  # a missing metric is null, never a wrong value
    return row


def runs_table(results: Sequence[RunResult], start: int, chunk: int) -> pa.Table:
    """The runs rows of one chunk (``start`` = grid position of its first run)."""
    rows = [_run_row(start + i, chunk, r) for i, r in enumerate(results)]
    return pa.Table.from_pylist(rows, schema=RUNS_SCHEMA)


def _repeat_ids(results: Sequence[RunResult], counts: Sequence[int]) -> pa.Array:
    ids = pa.array([r.run_id for r in results], pa.string())
    return ids.take(pa.array(np.repeat(np.arange(len(results)), counts)))


def curves_tables(results: Sequence[RunResult]) -> tuple[pa.Table, pa.Table]:
    """Long ``curves`` and ``layers`` tables of one chunk, rows in (run, step, layer) order.

    ``layers`` drops (step, layer) rows with nothing recorded (e.g. the output layer on an
    evaluation-only step), which keeps it a third smaller for log_every > 1.
    """
    c_cols: dict[str, list[np.ndarray]] = {c: [] for c in ("step", *CURVE_METRICS)}
    l_cols: dict[str, list[np.ndarray]] = {
        c: [] for c in ("step", "layer", "grad_norm", "dead", "act_sq")
    }
    c_counts, l_counts = [], []
    for r in results:
        cur = r.curves
        n = len(cur)
        step = cur["step"].to_numpy(np.int64)
        c_cols["step"].append(step)
        for c in CURVE_METRICS:
            c_cols[c].append(cur[c].to_numpy(np.float64))
        c_counts.append(n)
        n_layers = r.config.depth + 1
        nan = np.full(n, np.nan)
        g = np.stack([cur[f"grad_norm_{k}"].to_numpy(np.float64) for k in range(n_layers)], 1)
        d = np.stack([cur[f"dead_{k}"].to_numpy(np.float64) for k in range(n_layers - 1)]
                     + [nan], 1)  # fmt: skip
        a = np.stack([cur[f"act_sq_{k}"].to_numpy(np.float64) for k in range(n_layers - 1)]
                     + [nan], 1)  # fmt: skip
        g, d, a = g.ravel(), d.ravel(), a.ravel()  # step-major: (step, layer) pairs
        keep = ~(np.isnan(g) & np.isnan(d) & np.isnan(a))
        l_cols["step"].append(np.repeat(step, n_layers)[keep])
        l_cols["layer"].append(np.tile(np.arange(n_layers, dtype=np.int64), n)[keep])
        l_cols["grad_norm"].append(g[keep])
        l_cols["dead"].append(d[keep])
        l_cols["act_sq"].append(a[keep])
        l_counts.append(int(keep.sum()))

    def build(cols: dict[str, list[np.ndarray]], counts: list[int], schema: pa.Schema):
        arrays = [_repeat_ids(results, counts)]
        for f in schema.names[1:]:
            parts = cols[f]
            x = np.concatenate(parts) if parts else np.empty(0)
            arrays.append(pa.array(x, type=schema.field(f).type))
        return pa.Table.from_arrays(arrays, schema=schema)

    return build(c_cols, c_counts, CURVES_SCHEMA), build(l_cols, l_counts, LAYERS_SCHEMA)


def timing_table(results: Sequence[RunResult], chunk: int, seconds: float, threads: int):
    """Wall times of one chunk (kept apart from the deterministic tables)."""
    n = len(results)
    return pa.Table.from_pydict(
        {
            "run_id": [r.run_id for r in results],
            "chunk": [chunk] * n,
            "wall_time": [float(r.wall_time) for r in results],
            "chunk_seconds": [float(seconds)] * n,
            "threads": [int(threads)] * n,
        },
        schema=TIMING_SCHEMA,
    )


# ======================================================================================
# atomic, deterministic file writes


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` via ``write(file)`` into ``<name>.tmp-<pid>``, fsync, then rename.

    Readers see the old file or the complete new one, never a half-written one. On an
    exception the temporary file is removed; after a crash (SIGKILL) it stays behind with
    a name no reader looks at, and :meth:`Store.remove_tmp` deletes it on resume.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write` of a UTF-8 text."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def _write_parquet(table: pa.Table, f: BinaryIO) -> None:
    # Explicit settings: the bytes then depend only on the rows and the pyarrow version
    # (Parquet footers hold no timestamp).
    pq.write_table(
        table,
        f,
        compression=COMPRESSION,
        row_group_size=ROW_GROUP_SIZE,
        use_dictionary=True,
        write_statistics=True,
    )


def _write_npz(arrays: Mapping[str, np.ndarray], f: BinaryIO) -> None:
    """Like ``np.savez`` (stored, zip64 entries), but with a fixed entry time."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o600 << 16
            with z.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)


def _fsync_dir(path: Path) -> None:
    # Makes the renames durable on power loss; harmless where directories can't be opened.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ======================================================================================
# the lock


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """``(state, start_time_ticks)`` of a process from /proc, or None if unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the command name may contain spaces
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int, start_time: int | None) -> bool:
    """Whether ``pid`` runs on this host (and is the same process, if its start is known)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    stat = _proc_stat(pid)
    if stat is not None:
        state, started = stat
        if state in ("Z", "X"):  # killed but not yet reaped by its parent
            return False
        if start_time is not None and started != start_time:  # the pid was reused
            return False
    return True


@contextlib.contextmanager
def _dir_flock(directory: Path) -> Iterator[None]:
    """Serialise lock take-overs between processes (flock on the directory, if possible)."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


class StoreLock:
    """``sweep.lock`` in a store directory: one writer at a time, survives crashes sanely.

    Created with ``O_CREAT | O_EXCL`` and holding the owner's pid, host and process start
    time. If the file exists and its pid is alive on this host, :meth:`acquire` refuses
    (:class:`StoreLockedError`, naming the pid and what to do); a lock from another host is
    refused too (its pid cannot be checked from here). A lock whose process is gone (or
    whose pid now belongs to a different process) is stale and taken over; the previous
    owner is then in :attr:`stale`. Use as a context manager; released on exit, including
    on Ctrl-C.

    Parameters
    ----------
    directory : path
        The store directory (must exist).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.path = Path(directory) / LOCK
        self.stale: dict[str, Any] | None = None
        self._owned = False

    def _read(self) -> dict[str, Any]:
        try:
            d = json.loads(self.path.read_text())
            return d if isinstance(d, dict) else {}
        except (OSError, ValueError):
            return {}  # empty or garbled: a crash between create and write

    def _refusal(self, owner: Mapping[str, Any]) -> StoreLockedError:
        pid, host = owner.get("pid"), owner.get("host")
        since = f", started {owner['started']}" if owner.get("started") else ""
        d = self.path.parent
        if host != socket.gethostname():
            what = (
                f"its pid cannot be checked from {socket.gethostname()}. If no sweep runs there "
                f"any more, delete {self.path} and run the command again"
            )
        else:
            what = (
                f"wait for it to finish, or stop it (kill {pid}) and run the same command again "
                f"to resume. If you are sure no sweep writes there, delete {self.path}"
            )
        return StoreLockedError(
            f"store {d} is in use by another sweep (pid {pid} on {host}{since}): {what}"
        )

    def acquire(self) -> StoreLock:
        """Take the lock or raise :class:`StoreLockedError`; returns ``self``."""
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "start_time": (_proc_stat(os.getpid()) or (None, None))[1],
            "started": _now(),
        }
        with _dir_flock(self.path.parent):
            for _ in range(3):
                try:
                    fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    owner = self._read()
                    pid = owner.get("pid")
                    same_host = owner.get("host") == me["host"]
                    if isinstance(pid, int) and (
                        not same_host or _pid_alive(pid, owner.get("start_time"))
                    ):
                        raise self._refusal(owner) from None
                    self.stale = owner or {"pid": None, "host": None}
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()
                    continue
                with os.fdopen(fd, "w") as f:
                    json.dump(me, f)
                    f.flush()
                    os.fsync(f.fileno())
                self._owned = True
                return self
        raise StoreLockedError(f"could not create {self.path}; delete it and try again")

    def release(self) -> None:
        """Remove the lock file if this process still owns it."""
        if not self._owned:
            return
        self._owned = False
        if self._read().get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# ======================================================================================
# the store


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _run_ids_digest(grid: Grid) -> str:
    return hashlib.sha256("\n".join(r.run_id for r in grid).encode()).hexdigest()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        p = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def environment(threads: int | None = None) -> dict[str, Any]:
    """Versions, CPU, host, thread count and git commit: what a result depends on."""
    import numba

    versions = {"fastdepth": __version__, "numpy": np.__version__, "numba": numba.__version__,
                "pandas": pd.__version__, "pyarrow": pa.__version__}  # fmt: skip
    commit = _git("rev-parse", "HEAD")
    dirty = None
    if commit is not None:
        status = _git("status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
    return {
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "host": socket.gethostname(),
        "threads": int(threads if threads is not None else numba.get_num_threads()),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def _fmt_values(values: list[Any]) -> str:
    if len(values) == 1:
        return repr(values[0])
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if ints and len(values) > 2 and values == list(range(values[0], values[0] + len(values))):
        return f"{values[0]}..{values[-1]} ({len(values)} values)"
    if len(values) > 8:
        head = ", ".join(map(repr, values[:6]))
        return f"[{head}, ..., {values[-1]!r}] ({len(values)} values)"
    return "[" + ", ".join(map(repr, values)) + "]"


def _field_values(grid: Grid) -> dict[str, list[Any]]:
    """Field -> distinct values over the grid's runs, in order of first appearance."""
    seen: dict[str, dict[str, Any]] = {name: {} for name in CONFIG_COLUMNS}
    for run in grid:
        for name, value in run.to_dict().items():
            seen[name].setdefault(json.dumps(value, sort_keys=True), value)
    return {name: list(v.values()) for name, v in seen.items()}


def grid_differences(old: Grid, new: Grid) -> list[str]:
    """Human-readable differences between two grids, e.g. ``"depth: [1, 2] -> [1, 2, 4]"``."""
    a, b = _field_values(old), _field_values(new)
    out = [
        f"{name}: {_fmt_values(a[name])} -> {_fmt_values(b[name])}"
        for name in CONFIG_COLUMNS
        if a[name] != b[name]
    ]
    if not out and old.zip != new.zip:
        out.append(f"zip: {old.zip} -> {new.zip}")
    if not out and len(old) != len(new):
        out.append(f"number of runs: {len(old)} -> {len(new)}")
    if not out:
        out.append(
            "same field values but different runs or run order (the combination of values "
            "differs, or a fastdepth version that changed run ids wrote the store)"
        )
    return out


class Store:
    """A sweep directory: manifest, chunked Parquet parts, done markers, lock.

    Parameters
    ----------
    path : path
        The store directory. :meth:`create` makes a new store there; the other methods
        expect an existing one.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ---------------------------------------------------------------- paths and state

    def part(self, table: str, chunk: int) -> Path:
        """Path of one chunk's part of ``table`` (a Parquet table, or ``'params'``)."""
        ext = "npz" if table == "params" else "parquet"
        return self.path / table / f"part-{chunk:05d}.{ext}"

    def marker(self, chunk: int) -> Path:
        """Path of a chunk's commit marker."""
        return self.path / DONE / f"chunk-{chunk:05d}"

    def exists(self) -> bool:
        """Whether the directory holds a store (a manifest)."""
        return (self.path / MANIFEST).is_file()

    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict."""
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except FileNotFoundError:
            raise StoreError(f"{self.path} is not a fastdepth store (no {MANIFEST})") from None

    def grid(self) -> Grid:
        """The stored grid, rebuilt (and re-validated) from the manifest."""
        return Grid.from_dict(self.manifest()["grid"])

    def chunk_size(self) -> int:
        """Runs per chunk (fixed when the store was created)."""
        return int(self.manifest()["chunk_size"])

    def chunks(self) -> list[tuple[int, int]]:
        """``(start, stop)`` grid positions of every chunk."""
        m = self.manifest()
        return chunk_bounds(int(m["n_runs"]), int(m["chunk_size"]))

    def done_chunks(self) -> list[int]:
        """Indices of committed chunks, sorted: a marker and every part file present.

        (The marker is written last, so it implies the parts; checking them as well makes a
        part deleted by hand mean "redo this chunk" rather than a broken store.)
        """
        out = []
        with contextlib.suppress(FileNotFoundError):
            for p in (self.path / DONE).iterdir():
                name = p.name
                if name.startswith("chunk-") and name[6:].isdigit():
                    k = int(name[6:])
                    if all(self.part(t, k).is_file() for t in PART_DIRS):
                        out.append(k)
        return sorted(out)

    def is_empty_dir(self) -> bool:
        """True if the directory holds nothing but a lock and leftover temporary files."""
        if not self.path.exists():
            return True
        return all(p.name == LOCK or ".tmp-" in p.name for p in self.path.iterdir())

    # ---------------------------------------------------------------- lifecycle

    def lock(self) -> StoreLock:
        """A :class:`StoreLock` on this directory (``with store.lock(): ...``)."""
        return StoreLock(self.path)

    def create(
        self,
        grid: Grid,
        chunk_size: int,
        threads: int | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        """Write the manifest and the part directories of a new store.

        Call with the lock held, on an empty directory (see :meth:`is_empty_dir`).
        """
        if self.exists():
            raise StoreError(f"{self.path} already holds a store")
        env = environment(threads)
        n = len(grid)
        manifest = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "created": _now(),
            "grid": grid.to_dict(),
            "n_runs": n,
            "run_ids_sha256": _run_ids_digest(grid),
            "chunk_size": int(chunk_size),
            "n_chunks": len(chunk_bounds(n, chunk_size)),
            **env,
            "command": list(command) if command is not None else None,
            "sessions": [],
            "tables": {name: s.names for name, s in SCHEMAS.items()},
        }
        self.path.mkdir(parents=True, exist_ok=True)
        for d in (*PART_DIRS, DONE):
            (self.path / d).mkdir(exist_ok=True)
        self._write_manifest(manifest)

    def _write_manifest(self, manifest: Mapping[str, Any]) -> None:
        text = json.dumps(manifest, indent=2, allow_nan=False) + "\n"
        atomic_write_text(self.path / MANIFEST, text)

    def add_session(self, threads: int, command: Sequence[str] | None = None) -> None:
        """Record a sweep session (start time, pid, host, threads) in the manifest."""
        m = self.manifest()
        m.setdefault("sessions", []).append(
            {"started": _now(), "pid": os.getpid(), "host": socket.gethostname(),
             "threads": int(threads), "fastdepth": __version__,
             "command": list(command) if command is not None else None}
        )  # fmt: skip
        self._write_manifest(m)

    def check_grid(self, grid: Grid) -> None:
        """Raise :class:`GridMismatchError` unless ``grid`` has exactly the stored runs.

        Also raises :class:`StoreError` for a store of another schema version: its parts
        and new ones would have different columns.
        """
        m = self.manifest()
        version = m.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version} (written by fastdepth "
                f"{m.get('fastdepth', '?')}); this fastdepth writes version {SCHEMA_VERSION} "
                "and cannot add to it. Start the sweep in a new --out directory; the old store "
                "still loads with fastdepth.load (new columns read as missing)"
            )
        if m.get("run_ids_sha256") == _run_ids_digest(grid):
            return
        try:
            diffs = grid_differences(self.grid(), grid)
        except ConfigError as e:
            diffs = [f"the stored grid is not valid with this fastdepth version ({e})"]
        raise GridMismatchError(
            f"store {self.path} holds a different grid than requested: {'; '.join(diffs)} "
            f"(store -> command). Use a new --out directory, or --resume {self.path} without "
            "grid flags to continue the stored grid"
        )

    def remove_tmp(self) -> list[Path]:
        """Delete temporary files left by a crashed writer; returns what was removed.

        Call with the lock held (another live writer's temporary files would vanish).
        """
        removed = []
        for d in (self.path, *(self.path / n for n in (*PART_DIRS, DONE))):
            if not d.is_dir():
                continue
            for p in d.iterdir():
                if ".tmp-" in p.name and p.is_file():
                    p.unlink()
                    removed.append(p)
        return removed

    def write_chunk(
        self,
        chunk: int,
        start: int,
        results: Sequence[RunResult],
        seconds: float = 0.0,
        threads: int = 0,
    ) -> None:
        """Write every file of one chunk atomically, then its marker (the commit point).

        Parameters
        ----------
        chunk : int
            Chunk index.
        start : int
            Grid position of the chunk's first run.
        results : sequence of RunResult
            The chunk's results, in grid order.
        seconds : float
            Wall time of training the chunk (goes to ``timing`` only).
        threads : int
            Threads used (``timing`` only).
        """
        parts = encode_chunk(results, start, chunk, seconds, threads)
        self.write_parts(chunk, start, len(results), parts)

    def write_parts(self, chunk: int, start: int, n_runs: int, parts: Mapping[str, bytes]) -> None:
        """Commit one chunk from its encoded files (:func:`encode_chunk`), marker last.

        Each part is written atomically, then the ``done`` marker: a crash at any point
        leaves either a committed chunk or one that a resumed sweep redoes. Used by
        :meth:`write_chunk` and by the client of a distributed sweep, whose workers encode
        the parts (:mod:`fastdepth.distributed`).
        """
        if sorted(parts) != sorted(PART_DIRS):
            raise ValueError(f"chunk {chunk}: parts {sorted(parts)} != {sorted(PART_DIRS)}")
        for name in PART_DIRS:
            data = parts[name]
            atomic_write(self.part(name, chunk), lambda f, d=data: f.write(d))
        for d in PART_DIRS:
            _fsync_dir(self.path / d)
        marker = {"chunk": chunk, "runs": [start, start + n_runs], "written": _now()}
        atomic_write_text(self.marker(chunk), json.dumps(marker) + "\n")
        _fsync_dir(self.path / DONE)


def encode_chunk(
    results: Sequence[RunResult], start: int, chunk: int, seconds: float = 0.0, threads: int = 0
) -> dict[str, bytes]:
    """The exact bytes of every part file of one chunk: ``{"runs": b"PAR1...", ...}``.

    Keys are :data:`PART_DIRS`. The bytes depend only on the results (and the pyarrow and
    NumPy versions), except ``timing``; :meth:`Store.write_parts` commits them.
    """
    runs = runs_table(results, start, chunk)
    curves, layers = curves_tables(results)
    params = {}
    for r in results:
        for k, (W, b) in enumerate(r.final_params):
            params[f"{r.run_id}/W{k}"] = W
            params[f"{r.run_id}/b{k}"] = b
    timing = timing_table(results, chunk, seconds, threads)
    out = {}
    for name, table in (("runs", runs), ("curves", curves), ("layers", layers),
                        ("timing", timing)):  # fmt: skip
        buf = io.BytesIO()
        _write_parquet(table, buf)
        out[name] = buf.getvalue()
    buf = io.BytesIO()
    _write_npz(params, buf)
    out["params"] = buf.getvalue()
    return {name: out[name] for name in PART_DIRS}


# ======================================================================================
# reading


def _open(path: str | os.PathLike) -> tuple[Store, list[int]]:
    store = Store(path)
    if not store.exists():
        raise FileNotFoundError(f"{store.path} is not a fastdepth store (no {MANIFEST})")
    return store, store.done_chunks()


def _dataset(store: Store, table: str, chunks: Iterable[int]) -> ds.Dataset | None:
    files = [str(store.part(table, c)) for c in chunks]
    if not files:
        return None
    return ds.dataset(files, schema=SCHEMAS[table], format="parquet")


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas()
    # Nullable integer config fields (batch_size: None = full batch) would become float64.
    for f in dataclasses.fields(RunConfig):
        if f.name in df.columns and RUNS_SCHEMA.field(f.name).type == pa.int64():
            if "None" in str(f.type):
                df[f.name] = df[f.name].astype("Int64")
    return df


def _empty(schema: pa.Schema, columns: Sequence[str] | None = None) -> pd.DataFrame:
    t = schema.empty_table()
    return _to_pandas(t.select(list(columns)) if columns is not None else t)


def _check_columns(names: Iterable[str], valid: Sequence[str], what: str) -> None:
    for name in names:
        if name not in valid:
            raise ValueError(unknown_message(what, name, valid))


def _filter_expr(filters: Mapping[str, Any]) -> pc.Expression | None:
    """``depth=4`` -> equality, ``depth=[2, 4]`` -> membership, ``noise=None`` -> is null."""
    _check_columns(filters, RUNS_SCHEMA.names, "runs column")
    expr = None
    for name, value in filters.items():
        f = pc.field(name)
        if name == "widths" and isinstance(value, list | tuple) and value:
            if all(isinstance(v, int | np.integer) for v in value):  # widths=[16, 16]
                value = ",".join(str(int(v)) for v in value)
            else:  # widths=[[16, 16], "8,8"]
                value = [v if isinstance(v, str) else ",".join(map(str, v)) for v in value]
        if value is None:
            e = f.is_null()
        elif isinstance(value, list | tuple | set | frozenset | range | np.ndarray | pd.Series):
            vals = [v.item() if isinstance(v, np.generic) else v for v in value]
            e = f.isin(vals)
        else:
            e = f == (value.item() if isinstance(value, np.generic) else value)
        expr = e if expr is None else expr & e
    return expr


def load_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The store's ``manifest.json`` as a dict."""
    store, _ = _open(path)
    return store.manifest()


def load(
    path: str | os.PathLike, *, timing: bool = True, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The runs table of a store: one row per finished run, in grid order.

    Parameters
    ----------
    path : path
        Store directory.
    timing : bool
        Add ``wall_time`` (seconds attributed to the run) from the ``timing`` table. It is
        kept out of the runs files because it differs between otherwise identical sweeps.
    columns : sequence of str, optional
        Read only these columns of :data:`RUNS_SCHEMA` (default: all).

    Returns
    -------
    pandas.DataFrame
        Grid fields (``widths`` as ``"16,16"``, ``dataset_params`` as JSON), ``run_index``,
        ``run_id``, ``chunk``, ``status``, every summary metric (per-layer metrics as
        arrays). Only committed chunks are read: a sweep still running or killed
        mid-chunk shows the chunks it finished.
    """
    store, done = _open(path)
    if columns is not None:
        _check_columns(columns, RUNS_SCHEMA.names, "runs column")
        read = list(dict.fromkeys(["run_index", *columns, *(["run_id"] if timing else [])]))
    else:
        read = None
    d = _dataset(store, "runs", done)
    if d is None:
        df = _empty(RUNS_SCHEMA, read)
    else:
        df = _to_pandas(d.to_table(columns=read))
        df = df.sort_values("run_index", kind="stable").reset_index(drop=True)
    if timing:
        t = _dataset(store, "timing", done)
        if t is not None and len(df):
            wt = _to_pandas(t.to_table(columns=["run_id", "wall_time"]))
            df = df.merge(wt, on="run_id", how="left", validate="one_to_one")
        else:
            df["wall_time"] = np.full(len(df), np.nan)
    if columns is not None:
        keep = [*columns, *(["wall_time"] if timing else [])]
        df = df[list(dict.fromkeys(keep))]
    return df


def load_timing(path: str | os.PathLike) -> pd.DataFrame:
    """The timing table: ``run_id, chunk, wall_time, chunk_seconds, threads``."""
    store, done = _open(path)
    d = _dataset(store, "timing", done)
    return _empty(TIMING_SCHEMA) if d is None else _to_pandas(d.to_table())


def _select_runs(store: Store, done: list[int], filters: Mapping[str, Any], extra=()):
    """Runs matching ``filters``: a table of run_index, run_id, chunk and ``extra`` columns."""
    expr = _filter_expr(filters)
    d = _dataset(store, "runs", done)
    cols = list(dict.fromkeys(["run_index", "run_id", "chunk", *extra]))
    if d is None:
        return RUNS_SCHEMA.empty_table().select(cols)
    return d.to_table(columns=cols, filter=expr)


def _load_long(
    path: str | os.PathLike,
    table: str,
    filters: Mapping[str, Any],
    attach: Sequence[str] | None,
) -> pd.DataFrame:
    store, done = _open(path)
    attach = list(attach or ())
    _check_columns(attach, RUNS_SCHEMA.names, "runs column")
    schema = SCHEMAS[table]
    if filters or attach:
        sel = _select_runs(store, done, filters, attach)
        chunks = sorted(set(sel.column("chunk").to_pylist()))
    else:
        sel, chunks = None, done
    d = _dataset(store, table, chunks)
    if d is None:
        df = _empty(schema)
    else:
        # Only the parts of the chunks holding selected runs are opened, and inside them
        # the run_id predicate is pushed down to the Parquet reader.
        expr = pc.field("run_id").isin(sel.column("run_id")) if filters else None
        df = _to_pandas(d.to_table(filter=expr))
    if attach:
        meta = _to_pandas(sel.select(["run_id", *[c for c in attach if c != "run_id"]]))
        df = df.merge(meta, on="run_id", how="left", validate="many_to_one")
    return df


def load_curves(
    path: str | os.PathLike, *, attach: Sequence[str] | None = None, **filters: Any
) -> pd.DataFrame:
    """Training curves in long format, for the runs matching ``filters``.

    Parameters
    ----------
    path : path
        Store directory.
    attach : sequence of str, optional
        Runs-table columns to add to every row (e.g. ``["depth", "seed"]``) for plotting.
    **filters
        Conditions on runs-table columns: ``depth=4``, ``dataset="circle"``,
        ``depth=[2, 4]`` (any of), ``run_id=[...]``, ``clip=None`` (null).

    Returns
    -------
    pandas.DataFrame
        ``run_id, step, loss, grad_norm, train_loss, train_acc, test_loss, test_acc``
        (NaN where a step was not logged / evaluated), rows in grid order then step.
    """
    return _load_long(path, "curves", filters, attach)


def load_layers(
    path: str | os.PathLike, *, attach: Sequence[str] | None = None, **filters: Any
) -> pd.DataFrame:
    """Per-layer curves in long format (see :func:`load_curves` for the arguments).

    Returns
    -------
    pandas.DataFrame
        ``run_id, step, layer, grad_norm, dead, act_sq``; ``layer`` 0 is the first hidden
        layer and ``depth`` the output layer (``dead`` / ``act_sq`` NaN there).
    """
    return _load_long(path, "layers", filters, attach)


def load_params(path: str | os.PathLike, run_id: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Final parameters of one run: ``[(W, b), ...]``, output layer last.

    ``W`` is ``(fan_in, fan_out)`` and ``b`` ``(fan_out,)``, in the run's dtype.
    """
    store, done = _open(path)
    sel = _select_runs(store, done, {"run_id": run_id})
    if sel.num_rows == 0:
        raise KeyError(f"run {run_id!r} is not in a finished chunk of {store.path}")
    chunk = sel.column("chunk")[0].as_py()
    out = []
    with np.load(store.part("params", chunk), allow_pickle=False) as z:
        k = 0
        while f"{run_id}/W{k}" in z.files:
            out.append((z[f"{run_id}/W{k}"], z[f"{run_id}/b{k}"]))
            k += 1
    return out
