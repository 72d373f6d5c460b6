"""Tables as the loaders return them, from a store or from results in memory.

:func:`frame` gives results of :func:`fastdepth.train_many` in the long format of
:func:`~fastdepth.store.load_curves` / :func:`~fastdepth.store.load_layers`: the same
encoder (:func:`~fastdepth.store.codec.curves_tables`) and the same conversions as the
loaders (:func:`to_pandas`, :func:`with_columns`), so the frames are equal, dtypes included.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..config import RunConfig
from ..result import RunResult
from .codec import curves_tables, runs_table
from .schema import CONFIG_COLUMNS, RUNS_SCHEMA
from .select import check_columns

__all__ = ["dedupe_runs", "empty", "frame", "merge", "to_pandas", "varied", "with_columns"]


def to_pandas(table: pa.Table, runs: bool = False) -> pd.DataFrame:
    """A table as pandas; the config columns of a runs table (``runs``) as RunConfig has
    them."""
    df = table.to_pandas()
    if not runs:  # curves hold a "loss" series, which is not the config field
        return df
    for f in dataclasses.fields(RunConfig):
        if f.name not in df.columns:
            continue
        if RUNS_SCHEMA.field(f.name).type == pa.int64() and "None" in str(f.type):
            # Nullable integer config fields (batch_size: None = full batch) would become
            # float64.
            df[f.name] = df[f.name].astype("Int64")
        elif f.default is not None and df[f.name].isna().any():
            # A field added after an older store was written (residual_init, snapshot_every)
            # reads as null there: it had the default.
            df[f.name] = df[f.name].fillna(f.default).astype(type(f.default))
    return df


def empty(schema: pa.Schema, columns: Sequence[str] | None = None) -> pd.DataFrame:
    t = schema.empty_table()
    return to_pandas(t.select(list(columns)) if columns is not None else t, schema is RUNS_SCHEMA)


def merge(frames: list[pd.DataFrame], paths: Sequence[Any]) -> pd.DataFrame:
    """Several stores' tables as one, with a ``store`` column first; a run held by more than
    one store (the same config: bit-identical results) is kept from the first only."""
    out = []
    for df, p in zip(frames, paths, strict=True):
        df = df.copy()
        df.insert(0, "store", str(p))
        out.append(df)
    return pd.concat(out, ignore_index=True)


def dedupe_runs(frames: list[pd.DataFrame], paths: Sequence[Any], what: str) -> None:
    """Drop (in place) the runs of later stores that an earlier one holds; warn once."""
    seen: set[str] = set()
    dropped = 0
    for i, df in enumerate(frames):
        dup = df["run_id"].isin(seen).to_numpy()
        if dup.any():
            dropped += int(dup.sum())
            frames[i] = df.loc[~dup].reset_index(drop=True)
        seen.update(df["run_id"])
    if dropped:
        warnings.warn(
            f"{what}: {dropped} runs are in more than one store; each is kept once, from the "
            f"first store that holds it (a run's results depend only on its config)",
            stacklevel=3,
        )


def varied(runs: pa.Table) -> list[str]:
    """The config fields that take more than one value among ``runs``, in field order.

    ``widths`` ("16,16") is left out while every network is uniform: depth and width say it.
    """
    names = runs.column_names
    out = [
        c
        for c in CONFIG_COLUMNS
        if c in names and pc.count_distinct(runs.column(c), mode="all").as_py() > 1
    ]
    if "widths" in out and {"depth", "width"} <= set(names):
        widths, width, depth = (runs.column(c).to_pylist() for c in ("widths", "width", "depth"))
        uniform = all(
            w == ",".join([str(k)] * d) for w, k, d in zip(widths, width, depth, strict=True)
        )
        if uniform:
            out.remove("widths")
    return out


def with_columns(df: pd.DataFrame, meta: pa.Table, names: Sequence[str]) -> pd.DataFrame:
    """``df`` with the runs-table columns ``names`` of ``meta`` added to every row, by run_id."""
    if not names:
        return df
    cols = ["run_id", *[c for c in names if c != "run_id"]]
    extra = to_pandas(meta.select(cols), runs=True).drop_duplicates("run_id")
    return df.merge(extra, on="run_id", how="left", validate="many_to_one")


def frame(
    results: Sequence[RunResult], *, attach: Sequence[str] | None = None, layers: bool = False
) -> pd.DataFrame:
    """Results in memory as :func:`load_curves` (or :func:`load_layers`) gives them.

    Parameters
    ----------
    results : sequence of RunResult
        E.g. what :func:`fastdepth.train_many` returned.
    attach : sequence of str, optional
        Runs-table columns to add; default: the config fields that vary among ``results``
        (what :func:`load_curves` attaches for a store of exactly these runs).
    layers : bool
        The per-layer table (:func:`load_layers`) instead of the curves.

    Returns
    -------
    pandas.DataFrame
        The same columns, dtypes and row order as the loader gives for a store holding
        these runs: built by the same encoder, so ``frame(train_many(grid))`` equals
        ``load_curves(store)`` of ``fastdepth.sweep(grid, store)``.
    """
    results = list(results)
    if attach is not None:
        check_columns(attach, RUNS_SCHEMA.names, "runs column")
    curves, lay = curves_tables(results)
    df = to_pandas(lay if layers else curves)
    meta = runs_table(results, 0, 0) if results else RUNS_SCHEMA.empty_table()
    return with_columns(df, meta, varied(meta) if attach is None else attach)
