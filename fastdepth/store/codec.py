"""Results -> the exact bytes of a chunk's part files (Arrow tables, Parquet, ``.npz``).

The bytes depend only on the results and the pyarrow and NumPy versions (except the
``timing`` part, which holds wall times): fixed writer settings, no timestamps, a fixed zip
entry time. That is what makes a killed-and-resumed sweep byte-identical to an
uninterrupted one.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..result import RunResult
from .schema import (
    CONFIG_COLUMNS,
    CURVE_METRICS,
    CURVES_SCHEMA,
    LAYER_METRICS,
    LAYERS_SCHEMA,
    PART_DIRS,
    REGION_COLUMNS,
    RUNS_SCHEMA,
    SUMMARY_COLUMNS,
    TIMING_SCHEMA,
)

__all__ = [
    "COMPRESSION",
    "ROW_GROUP_SIZE",
    "SNAPSHOT_PARAMS",
    "SNAPSHOT_STEPS",
    "curves_tables",
    "encode_chunk",
    "runs_table",
    "timing_table",
]

# Fixed so the bytes of a part depend only on its rows (pyarrow's default could change).
ROW_GROUP_SIZE = 1 << 17
COMPRESSION = "zstd"
# Entries of a run's weight snapshots in the params part: ``<run_id>/snapshot_steps``
# (int64, (n,)) and ``<run_id>/snapshots`` ((n, n_params), the run's dtype, packed).
SNAPSHOT_STEPS, SNAPSHOT_PARAMS = "snapshot_steps", "snapshots"
# Fixed zip entry time (the zip epoch): np.savez stamps the current time into every entry,
# which would make the params of a resumed sweep differ from an uninterrupted one.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


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
    for name, _ in (*SUMMARY_COLUMNS, *REGION_COLUMNS):
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
    l_cols: dict[str, list[np.ndarray]] = {c: [] for c in ("step", "layer", *LAYER_METRICS)}
    c_counts, l_counts = [], []
    for r in results:
        cur = r.curves
        n = len(cur)
        step = cur["step"].to_numpy(np.int64)
        c_cols["step"].append(step)
        for c in CURVE_METRICS:
            # a series the run did not record (sharpness when off) is NaN
            c_cols[c].append(cur[c].to_numpy(np.float64) if c in cur else np.full(n, np.nan))
        c_counts.append(n)
        n_layers = r.config.depth + 1
        nan = np.full(n, np.nan)
        # (step, layer) pairs, step-major; a layer without a series (the output layer has
        # no dead / act_sq) is NaN
        series = {
            m: np.stack([cur[f"{m}_{k}"].to_numpy(np.float64) if f"{m}_{k}" in cur else nan
                         for k in range(n_layers)], 1).ravel()
            for m in LAYER_METRICS
        }  # fmt: skip
        keep = ~np.logical_and.reduce([np.isnan(x) for x in series.values()])
        l_cols["step"].append(np.repeat(step, n_layers)[keep])
        l_cols["layer"].append(np.tile(np.arange(n_layers, dtype=np.int64), n)[keep])
        for m, x in series.items():
            l_cols[m].append(x[keep])
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


def _write_parquet(table: pa.Table, f: BinaryIO) -> None:
    # Explicit settings: the bytes then depend only on the rows and the pyarrow version
    # (Parquet footers hold no timestamp). Page checksums: every data page carries its
    # CRC-32, which every read verifies (fastdepth.store.integrity).
    pq.write_table(
        table,
        f,
        compression=COMPRESSION,
        row_group_size=ROW_GROUP_SIZE,
        use_dictionary=True,
        write_statistics=True,
        write_page_checksum=True,
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
        if r.snapshots is not None:  # only runs that took snapshots: other bytes unchanged
            params[f"{r.run_id}/{SNAPSHOT_STEPS}"] = r.snapshots.steps
            params[f"{r.run_id}/{SNAPSHOT_PARAMS}"] = r.snapshots.params
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
