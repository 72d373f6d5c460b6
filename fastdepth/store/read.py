"""Reading a store: the runs table, long curves and layers, timing, parameters, snapshots.

:func:`load`, :func:`load_curves` and :func:`load_layers` take one store or a list of
stores (read as one, with a ``store`` column naming each row's store); :func:`frame`
gives results in memory in the same format. Only committed chunks (a done marker and
every part) are read, so a sweep still running or killed mid-chunk shows the chunks it
finished, with a :class:`StoreIncompleteWarning` saying what is missing. Every part is
read whole and checked against the size and SHA-256 in its marker before it is decoded
(Parquet page checksums verified too): a damaged file raises :class:`StoreCorruptError`
naming it, never returns other numbers.
"""

from __future__ import annotations

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

from ..kernels.vocab import ACTIVATIONS, units_of
from ..result import Snapshots
from .codec import SNAPSHOT_PARAMS, SNAPSHOT_STEPS
from .commits import ChunkScan, corrupt_error, few, read_part
from .directory import Store
from .errors import StoreIncompleteWarning, StoreSchemaWarning
from .frames import dedupe_runs, empty, frame, merge, to_pandas, varied, with_columns
from .integrity import PARQUET
from .schema import CONFIG_COLUMNS, LOCK, MANIFEST, RUNS_SCHEMA, SCHEMAS, TIMING_SCHEMA
from .select import check_columns, matching, warn_no_match

__all__ = [
    "frame",
    "load",
    "load_curves",
    "load_layers",
    "load_manifest",
    "load_params",
    "load_snapshots",
    "load_timing",
]

#: A path, or several stores to read as one.
Paths = str | os.PathLike | Sequence[str | os.PathLike]
# What a store before schema 3 wrote for every activation with the ReLU criterion.
LEGACY_DEAD_COLUMNS = ("dead_frac_init", "dead_frac_init_max", "dead_frac_end",
                       "layer_dead_init", "layer_dead_end", "born_dead", "dead")  # fmt: skip


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


def _paths(path: Paths) -> tuple[list[str | os.PathLike], bool]:
    """``(paths, merged)``: one store, or several given as a list (then merged)."""
    if isinstance(path, str | os.PathLike):
        return [path], False
    paths = list(path)
    if not paths:
        raise ValueError("no store given: pass a path or a non-empty list of paths")
    return paths, True


def _schema_version(store: Store) -> int:
    v = store.manifest().get("schema_version")
    return int(v) if isinstance(v, int) else 0


def _legacy_units(store: Store, runs: pd.DataFrame | pa.Table) -> set[str]:
    """Run ids whose dead fractions a store before schema 3 measured with the ReLU
    criterion although their activation is not of the ReLU family (those values are read
    as missing, with a :class:`StoreSchemaWarning`)."""
    if _schema_version(store) >= 3:
        return set()
    if isinstance(runs, pa.Table):
        runs = runs.select(["run_id", "activation"]).to_pandas()
    not_relu = ~runs["activation"].map(lambda a: a in ACTIVATIONS and units_of(a) == "dead")
    ids = set(runs.loc[not_relu, "run_id"])
    if ids:
        warnings.warn(
            f"store {store.path} (schema {_schema_version(store)}) counted 'dead' units of "
            f"{len(ids)} non-ReLU runs with the ReLU criterion (z <= 0 on every input), which "
            "does not measure anything for those activations: their dead fractions are read "
            "as missing. Sweep them again for their saturation (tanh, sigmoid)",
            StoreSchemaWarning,
            stacklevel=4,
        )
    return ids


def _mask_legacy(df: pd.DataFrame, ids: set[str]) -> pd.DataFrame:
    if not ids or not len(df):
        return df
    rows = df["run_id"].isin(ids).to_numpy()
    for name in LEGACY_DEAD_COLUMNS:
        if name in df.columns:
            if df[name].dtype.kind == "f":
                df.loc[rows, name] = np.nan
            else:
                df[name] = df[name].astype(object)
                df.loc[rows, name] = None
    return df


def load_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The store's ``manifest.json`` as a dict."""
    store = Store(path)
    if not store.exists():
        raise FileNotFoundError(f"{store.path} is not a fastdepth store (no {MANIFEST})")
    return store.manifest()


def load(path: Paths, *, timing: bool = True, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The runs table of a store: one row per finished run, in grid order.

    Parameters
    ----------
    path : path or list of paths
        Store directory, or several: their runs tables concatenated (in the order given)
        with a ``store`` column first naming each row's store; a run in more than one
        store (the same config, so the same results) is kept once, from the first.
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
    paths, merged = _paths(path)
    frames = []
    for p in paths:  # a loop, not a comprehension: the warnings' stack levels count frames
        frames.append(_load_one(p, timing, columns))
    if not merged:
        return frames[0]
    dedupe_runs(frames, paths, "load")
    return merge(frames, paths)


def _load_one(path: str | os.PathLike, timing: bool, columns: Sequence[str] | None):
    store, s = _open(path, stacklevel=3)
    done = sorted(s.committed)
    if columns is not None:
        check_columns(columns, RUNS_SCHEMA.names, "runs column")
        read = list(dict.fromkeys(["run_index", "run_id", *columns]))
    else:
        read = None
    d = _read(store, s, "runs", done, columns=read)
    if d is None:
        df = empty(RUNS_SCHEMA, read)
    else:
        df = to_pandas(d, runs=True)
        df = df.sort_values("run_index", kind="stable").reset_index(drop=True)
        if _schema_version(store) < 3:
            meta = d if "activation" in d.column_names else _read(
                store, s, "runs", done, columns=["run_id", "activation"])  # fmt: skip
            df = _mask_legacy(df, _legacy_units(store, meta))
    if timing:
        t = _read(store, s, "timing", done, columns=["run_id", "wall_time"]) if len(df) else None
        if t is not None:
            wt = to_pandas(t)
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
    return empty(TIMING_SCHEMA) if d is None else to_pandas(d)


def _load_long(
    path: Paths,
    table: str,
    filters: Mapping[str, Any],
    attach: Sequence[str] | None,
) -> pd.DataFrame:
    paths, merged = _paths(path)
    opened = []
    for p in paths:
        opened.append(_open(p, stacklevel=3))
    check_columns(filters, RUNS_SCHEMA.names, "runs column")
    if attach is not None:
        check_columns(attach, RUNS_SCHEMA.names, "runs column")
    need = list(dict.fromkeys(["run_index", "run_id", "chunk", "activation", *CONFIG_COLUMNS,
                               *filters, *(attach or ())]))  # fmt: skip
    metas = []
    for store, s in opened:
        d = _read(store, s, "runs", sorted(s.committed), columns=need)
        metas.append(RUNS_SCHEMA.empty_table().select(need) if d is None else d)
    if attach is None:  # the fields that vary among the runs of the store(s)
        attach = varied(pa.concat_tables(metas))
    frames, seen, n_selected, n_again = [], set(), 0, 0
    for (store, s), meta in zip(opened, metas, strict=True):
        mask = matching(meta, filters)
        if merged and seen:  # a run of an earlier store is not read again
            again = np.isin(np.asarray(meta.column("run_id").to_pylist(), dtype=object),
                            list(seen))  # fmt: skip
            n_again += int((mask & again).sum())
            mask &= ~again
        sel = meta.filter(pa.array(mask))
        ids = sel.column("run_id")
        seen.update(ids.to_pylist())
        n_selected += sel.num_rows
        # Only the parts of the chunks holding selected runs are read, and inside them the
        # run_id predicate is pushed down to the Parquet reader.
        everything = not filters and sel.num_rows == meta.num_rows
        chunks = sorted(s.committed) if everything else sorted(set(sel.column("chunk").to_pylist()))
        expr = None if everything else pc.field("run_id").isin(ids)
        d = _read(store, s, table, chunks, filter=expr)
        df = empty(SCHEMAS[table]) if d is None else to_pandas(d)
        if table == "layers" and _schema_version(store) < 3:
            df = _mask_legacy(df, _legacy_units(store, sel))
        frames.append(with_columns(df, sel, attach))
    if n_again:
        warnings.warn(
            f"load_{table}: {n_again} runs are in more than one store; each is kept once, from "
            "the first store that holds it (a run's results depend only on its config)",
            stacklevel=3,
        )
    if filters and n_selected == 0:
        where = "load_curves" if table == "curves" else f"load_{table}"
        warn_no_match(pa.concat_tables(metas), filters, where, stacklevel=4)
    return merge(frames, paths) if merged else frames[0]


def load_curves(
    path: Paths, *, attach: Sequence[str] | None = None, **filters: Any
) -> pd.DataFrame:
    """Training curves in long format, for the runs matching ``filters``.

    Parameters
    ----------
    path : path or list of paths
        Store directory, or several (merged as in :func:`load`, with a ``store`` column
        first).
    attach : sequence of str, optional
        Runs-table columns to add to every row (e.g. ``["depth", "seed"]``). Default: the
        grid fields that vary among the store's runs (of all the stores given), so each
        row says which setting it belongs to; ``[]`` adds none.
    **filters
        Conditions on runs-table columns: ``depth=4``, ``dataset="circle"``,
        ``depth=[2, 4]`` (any of), ``run_id=[...]``, ``clip=None`` (null). Floats match
        within a relative 5e-3 (:data:`~fastdepth.store.select.FLOAT_RTOL`: rounding
        noise, or a value as a figure prints it); filters that match no run warn
        (:class:`~fastdepth.store.NoMatchWarning`) with the values the store has.

    Returns
    -------
    pandas.DataFrame
        ``run_id, step, loss, grad_norm, train_loss, train_acc, test_loss, test_acc``
        (NaN where a step was not logged / evaluated), then the attached columns; rows in
        grid order then step. :func:`frame` gives the same for results in memory.
    """
    return _load_long(path, "curves", filters, attach)


def load_layers(
    path: Paths, *, attach: Sequence[str] | None = None, **filters: Any
) -> pd.DataFrame:
    """Per-layer curves in long format (see :func:`load_curves` for the arguments).

    Returns
    -------
    pandas.DataFrame
        ``run_id, step, layer, grad_norm, dead, act_sq, saturated`` then the attached
        columns; ``layer`` 0 is the first hidden layer and ``depth`` the output layer
        (NaN but ``grad_norm`` there). ``dead`` is the share of dead units for the ReLU
        family and ``saturated`` the share of saturated units for tanh and sigmoid
        (:data:`fastdepth.kernels.vocab.SATURATION`); each is NaN where it does not apply.
    """
    return _load_long(path, "layers", filters, attach)


def load_params(path: str | os.PathLike, run_id: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Final parameters of one run: ``[(W, b), ...]``, output layer last.

    ``W`` is ``(fan_in, fan_out)`` and ``b`` ``(fan_out,)``, in the run's dtype.
    """
    store, s, chunk = _chunk_of(path, run_id)
    out = []
    data = read_part(store, "params", s.committed[chunk])
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        k = 0
        while f"{run_id}/W{k}" in z.files:
            out.append((z[f"{run_id}/W{k}"], z[f"{run_id}/b{k}"]))
            k += 1
    return out


def _chunk_of(path: str | os.PathLike, run_id: str) -> tuple[Store, ChunkScan, int]:
    """The store, its scan, and the committed chunk holding ``run_id`` (``KeyError`` if none)."""
    store, s = _open(path)
    d = _read(store, s, "runs", sorted(s.committed), columns=["run_id", "chunk"],
              filter=pc.field("run_id") == run_id)  # fmt: skip
    if d is None or d.num_rows == 0:
        raise KeyError(f"run {run_id!r} is not in a finished chunk of {store.path}")
    return store, s, d.column("chunk")[0].as_py()


def load_snapshots(path: str | os.PathLike, run_id: str) -> Snapshots:
    """The weight snapshots of one run (trained with ``snapshot_every > 0``).

    Returns
    -------
    Snapshots
        ``steps`` (int64, (n,)) and ``params`` ((n, n_params), the run's dtype, packed;
        :meth:`Snapshots.weights` unpacks one).

    Raises
    ------
    KeyError
        The run is not in a committed chunk of the store.
    ValueError
        The run took no snapshots (``snapshot_every`` was 0).
    """
    store, s, chunk = _chunk_of(path, run_id)
    data = read_part(store, "params", s.committed[chunk])
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        key = f"{run_id}/{SNAPSHOT_PARAMS}"
        if key not in z.files:
            raise ValueError(
                f"run {run_id} of {store.path} has no weight snapshots (it was trained with "
                "snapshot_every=0); sweep it again with snapshot_every=K (--snapshot-every K)"
            )
        return Snapshots(z[f"{run_id}/{SNAPSHOT_STEPS}"], z[key])
