"""Reading a store: the runs table, long curves and layers, timing, parameters.

Only committed chunks (a done marker and every part) are read, so a sweep still running or
killed mid-chunk shows the chunks it finished, with a :class:`StoreIncompleteWarning`
saying what is missing. Every part is read whole and checked against the size and
SHA-256 in its marker before it is decoded (Parquet page checksums verified too): a
damaged file raises :class:`StoreCorruptError` naming it, never returns other numbers.
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..config import RunConfig
from ..kernels.vocab import unknown_message
from .commits import ChunkScan, corrupt_error, few, read_part
from .directory import Store
from .errors import StoreIncompleteWarning
from .integrity import PARQUET
from .schema import LOCK, MANIFEST, RUNS_SCHEMA, SCHEMAS, TIMING_SCHEMA

__all__ = ["load", "load_curves", "load_layers", "load_manifest", "load_params", "load_timing"]


def _warn_incomplete(store: Store, s: ChunkScan, stacklevel: int) -> None:
    if s.complete:
        return
    n_runs = s.bounds[-1][1] if s.bounds else 0
    have = sum(b - a for k, (a, b) in enumerate(s.bounds) if k in s.committed)
    why = [f"chunk {k}: {reason}" for k, reason in s.missing.items()]
    if s.unmarked:
        chunk = "chunks" if len(s.unmarked) > 1 else "chunk"
        why.insert(0, f"{chunk} {few(s.unmarked)}: not committed (no done marker)")
    running = " (a sweep holds its lock: it may still be writing)" if (
        store.path / LOCK).exists() else ""  # fmt: skip
    warnings.warn(
        f"store {store.path} is incomplete{running}: {len(s.committed)} of {len(s.bounds)} "
        f"chunks ({have} of {n_runs} runs) are read; {'; '.join(why)}. "
        f"`python -m fastdepth.sweep --resume {store.path}` completes it",
        StoreIncompleteWarning,
        stacklevel=stacklevel + 1,
    )


def _open(path: str | os.PathLike, stacklevel: int | None = None) -> tuple[Store, ChunkScan]:
    """The store and its chunks; warns (from ``stacklevel`` up) if it is incomplete.

    A damaged marker raises :class:`StoreCorruptError`: whether its chunk is committed is
    unknown, so no answer could be trusted.
    """
    store = Store(path)
    if not store.exists():
        raise FileNotFoundError(f"{store.path} is not a fastdepth store (no {MANIFEST})")
    s = store.scan()
    if s.damaged:
        k, why = next(iter(s.damaged.items()))
        raise corrupt_error(store, store.marker(k), k, s.bounds[k], why)
    if stacklevel is not None:
        _warn_incomplete(store, s, stacklevel + 1)
    return store, s


def _read(
    store: Store,
    s: ChunkScan,
    table: str,
    chunks: Iterable[int],
    columns: Sequence[str] | None = None,
    filter: pc.Expression | None = None,
) -> pa.Table | None:
    """Rows of ``table`` from the verified parts of ``chunks``, in chunk order (or None)."""
    out = []
    for k in chunks:
        frag = PARQUET.make_fragment(pa.BufferReader(read_part(store, table, s.committed[k])))
        d = ds.FileSystemDataset([frag], SCHEMAS[table], PARQUET)
        out.append(d.to_table(columns=columns, filter=filter))
    return pa.concat_tables(out) if out else None


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
    store = Store(path)
    if not store.exists():
        raise FileNotFoundError(f"{store.path} is not a fastdepth store (no {MANIFEST})")
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

    Warns
    -----
    StoreIncompleteWarning
        Some chunks are not committed; the warning says which and why.

    Raises
    ------
    StoreCorruptError
        A part read differs from what was committed (the error names the file).
    """
    store, s = _open(path, stacklevel=2)
    done = sorted(s.committed)
    if columns is not None:
        _check_columns(columns, RUNS_SCHEMA.names, "runs column")
        read = list(dict.fromkeys(["run_index", *columns, *(["run_id"] if timing else [])]))
    else:
        read = None
    d = _read(store, s, "runs", done, columns=read)
    if d is None:
        df = _empty(RUNS_SCHEMA, read)
    else:
        df = _to_pandas(d)
        df = df.sort_values("run_index", kind="stable").reset_index(drop=True)
    if timing:
        t = _read(store, s, "timing", done, columns=["run_id", "wall_time"]) if len(df) else None
        if t is not None:
            wt = _to_pandas(t)
            df = df.merge(wt, on="run_id", how="left", validate="one_to_one")
        else:
            df["wall_time"] = np.full(len(df), np.nan)
    if columns is not None:
        keep = [*columns, *(["wall_time"] if timing else [])]
        df = df[list(dict.fromkeys(keep))]
    return df


def load_timing(path: str | os.PathLike) -> pd.DataFrame:
    """The timing table: ``run_id, chunk, wall_time, chunk_seconds, threads``."""
    store, s = _open(path, stacklevel=2)
    d = _read(store, s, "timing", sorted(s.committed))
    return _empty(TIMING_SCHEMA) if d is None else _to_pandas(d)


def _select_runs(store: Store, s: ChunkScan, filters: Mapping[str, Any], extra=()):
    """Runs matching ``filters``: a table of run_index, run_id, chunk and ``extra`` columns."""
    expr = _filter_expr(filters)
    cols = list(dict.fromkeys(["run_index", "run_id", "chunk", *extra]))
    d = _read(store, s, "runs", sorted(s.committed), columns=cols, filter=expr)
    return RUNS_SCHEMA.empty_table().select(cols) if d is None else d


def _load_long(
    path: str | os.PathLike,
    table: str,
    filters: Mapping[str, Any],
    attach: Sequence[str] | None,
) -> pd.DataFrame:
    store, s = _open(path, stacklevel=3)
    attach = list(attach or ())
    _check_columns(attach, RUNS_SCHEMA.names, "runs column")
    schema = SCHEMAS[table]
    if filters or attach:
        sel = _select_runs(store, s, filters, attach)
        chunks = sorted(set(sel.column("chunk").to_pylist()))
    else:
        sel, chunks = None, sorted(s.committed)
    # Only the parts of the chunks holding selected runs are read, and inside them the
    # run_id predicate is pushed down to the Parquet reader.
    expr = pc.field("run_id").isin(sel.column("run_id")) if filters else None
    d = _read(store, s, table, chunks, filter=expr)
    if d is None:
        df = _empty(schema)
    else:
        df = _to_pandas(d)
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
    store, s = _open(path)
    sel = _select_runs(store, s, {"run_id": run_id})
    if sel.num_rows == 0:
        raise KeyError(f"run {run_id!r} is not in a finished chunk of {store.path}")
    chunk = sel.column("chunk")[0].as_py()
    out = []
    data = read_part(store, "params", s.committed[chunk])
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        k = 0
        while f"{run_id}/W{k}" in z.files:
            out.append((z[f"{run_id}/W{k}"], z[f"{run_id}/b{k}"]))
            k += 1
    return out
