"""What a store holds: file names, how a grid is cut into chunks, one Arrow schema per table.

Every column list that follows from another part of fastdepth is derived from it: the
config columns from the fields of :class:`fastdepth.config.RunConfig` (their Arrow types
from the fields' annotations), the curve metrics from the telemetry layout of the compiled
core (:mod:`fastdepth.kernels.telemetry`). Only :data:`SUMMARY_COLUMNS` is spelt out, on
purpose (see there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pyarrow as pa

from ..config import RunConfig
from ..kernels.telemetry import EVAL_COLUMNS, LOG_COLUMNS, SHARPNESS_COLUMNS

__all__ = [
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
    "RUNS_SCHEMA",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "SUMMARY_COLUMNS",
    "TABLES",
    "TIMING_SCHEMA",
    "chunk_bounds",
]

FORMAT = "fastdepth-sweep-store"
# 2: runs gained residual_init, final_output_std and collapsed.
# 3: unit states by activation: dead_* / born_dead for the ReLU family only (schema 2
#    measured z <= 0 for every activation), saturated_* / born_saturated for tanh and
#    sigmoid (runs, layers); runs gained snapshot_every (weight snapshots in params).
# 4: sharpness: runs gained the RunConfig fields sharpness_every / _k / _iters / _tol and
#    lr_rule, and sharpness_init, sharpness_final, sharpness_max, eos_fraction and
#    lr_effective; curves gained sharpness, eig_2..eig_4, their residuals and
#    lanczos_iterations (NaN for runs that measured none). Runs also gained
#    count_regions, regions_resolution and regions_init / regions_final (linear regions
#    of the initial and final network; null unless count_regions is on).
# Parts of an older store still load (missing columns read as null, schema-2 dead
# fractions of non-ReLU runs as missing: see read.py) but are never mixed with newer parts.
SCHEMA_VERSION = 4
MANIFEST = "manifest.json"
LOCK = "sweep.lock"
DONE = "done"
TABLES = ("runs", "curves", "layers", "timing")  # Parquet tables, one part per chunk
PART_DIRS = ("runs", "curves", "layers", "params", "timing")


def chunk_bounds(n_runs: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: grid positions of every chunk, in order.

    A pure function of the grid size and the chunk size, so a resumed sweep cuts the grid
    exactly as the interrupted one did.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return [(a, min(a + chunk_size, n_runs)) for a in range(0, n_runs, chunk_size)]


# Named "element" as Parquet names list items, so a part's schema reads back equal.
_LIST = pa.list_(pa.field("element", pa.float64()))
# Arrow type of each Python type spelling used by RunConfig annotations and below.
_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
          "list[float]": _LIST}  # fmt: skip


def _config_type(field: dataclasses.Field) -> pa.DataType:
    """Arrow type of a RunConfig field, from its annotation (``float | None`` -> float64)."""
    if field.name == "widths":
        return pa.string()  # hidden widths "16,16,16": one hashable, filterable value
    if field.name == "dataset_params":
        return pa.string()  # JSON object with sorted keys
    base = str(field.type).replace(" ", "").removesuffix("|None")
    if base not in _TYPES:  # a new RunConfig field with a new kind of type: decide explicitly
        raise TypeError(f"no Parquet column type for RunConfig.{field.name}: {field.type}")
    return _TYPES[base]


def _columns(spec: str) -> tuple[tuple[str, pa.DataType], ...]:
    """``"a:bool b c:list[float]"`` -> ``(("a", bool), ("b", float64), ("c", list))``."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append((name, _TYPES[kind or "float"]))
    return tuple(out)


CONFIG_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))

# Every key of fastdepth.metrics.summarize except "status" (its own column), in its order.
# Explicit on purpose: a Parquet schema must not depend on what the first run happened to
# return. tests/test_store.py checks this list against summarize(). Unmarked: float.
SUMMARY_COLUMNS: tuple[tuple[str, pa.DataType], ...] = _columns(
    "diverged:bool diverged_step:int final_train_loss final_train_acc final_test_loss "
    "final_test_acc last_good_test_acc best_test_acc best_train_loss initial_loss min_loss "
    "grad_norm_mean grad_norm_std grad_norm_cv grad_norm_init "
    "layer_grad_norm_mean:list[float] layer_grad_norm_cv:list[float] "
    "layer_grad_norm_init:list[float] signal_norm_init:list[float] up_fraction tv_ratio "
    "dead_frac_init dead_frac_init_max dead_frac_end layer_dead_init:list[float] "
    "layer_dead_end:list[float] born_dead:bool final_output_std collapsed:bool "
    "saturated_frac_init saturated_frac_init_max saturated_frac_end "
    "layer_saturated_init:list[float] layer_saturated_end:list[float] born_saturated:bool "
    "sharpness_init sharpness_final sharpness_max eos_fraction lr_effective"
)

# The linear-region counts of RunConfig.count_regions (fastdepth.analysis.counts.REGION_KEYS,
# added to the summary by the engine, not by summarize): null when it is off, and
# regions_final null for a diverged run.
REGION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = _columns("regions_init:int regions_final:int")


def _schema(table: str, fields: Iterable[tuple[str, pa.DataType]]) -> pa.Schema:
    meta = {b"fastdepth.table": table.encode(), b"fastdepth.schema": str(SCHEMA_VERSION).encode()}
    return pa.schema(list(fields), metadata=meta)


RUNS_SCHEMA = _schema(
    "runs",
    [
        ("run_index", pa.int64()),  # position in the grid order
        ("run_id", pa.string()),
        ("chunk", pa.int64()),
        ("status", pa.string()),  # a name of fastdepth.kernels.vocab.STATUSES
        *((f.name, _config_type(f)) for f in dataclasses.fields(RunConfig)),
        *SUMMARY_COLUMNS,
        *REGION_COLUMNS,
    ],
)
# The per-step series of fastdepth.engine's curves table, in the telemetry's order.
CURVE_METRICS: tuple[str, ...] = (*LOG_COLUMNS, *EVAL_COLUMNS, *SHARPNESS_COLUMNS)
CURVES_SCHEMA = _schema(
    "curves",
    [("run_id", pa.string()), ("step", pa.int64()), *((c, pa.float64()) for c in CURVE_METRICS)],
)
# The per-layer series: curves columns <metric>_<k>; dead / act_sq / saturated for hidden
# layers only (dead for the ReLU family, saturated for tanh and sigmoid, else NaN).
LAYER_METRICS = ("grad_norm", "dead", "act_sq", "saturated")
LAYERS_SCHEMA = _schema(
    "layers",
    [
        ("run_id", pa.string()),
        ("step", pa.int64()),
        ("layer", pa.int64()),  # 0 = first hidden layer, depth = output layer
        *((m, pa.float64()) for m in LAYER_METRICS),  # NaN but grad_norm for the output layer
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
