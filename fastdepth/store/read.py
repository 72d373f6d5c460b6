"""Reading a store: the runs table, long curves and layers, timing, parameters.

Only committed chunks (a done marker and every part) are read, so a sweep still running or
killed mid-chunk shows the chunks it finished.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..config import RunConfig
from ..kernels.vocab import unknown_message
from .directory import Store
from .schema import MANIFEST, RUNS_SCHEMA, SCHEMAS, TIMING_SCHEMA

__all__ = ["load", "load_curves", "load_layers", "load_manifest", "load_params", "load_timing"]


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
