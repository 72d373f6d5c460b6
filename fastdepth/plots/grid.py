"""What a runs table varied and held fixed, and how grid values read in a title.

:func:`grid_info` describes the grid behind a runs table (which fields vary, which are
fixed, which make the panels); :func:`fmt_value`, :func:`varied_text` and
:func:`fixed_text` turn it into the title lines every figure carries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..kernels.vocab import OPTIMIZERS
from ..store import CONFIG_COLUMNS

# Grid fields not worth a title (bookkeeping / defaults that do not change the experiment;
# what count_regions measured, the regions figure says on its axis).
_QUIET = {"n_test", "data_seed", "eps", "log_every", "eval_every", "seed", "snapshot_every",
          "count_regions", "regions_resolution"}  # fmt: skip


class CannotDraw(ValueError):
    """A figure cannot be drawn from these runs; the message says why."""


@dataclass
class GridInfo:
    """What varies in a runs table and how the figures facet it.

    Attributes
    ----------
    varied : dict
        Config field -> sorted distinct values, for fields with more than one value (seed
        included).
    fixed : dict
        Config field -> its single value.
    conditions : list of str
        Fields (besides depth and seed) whose combinations make the panels; dataset first.
    linked : list of str
        Fields that vary but are determined by depth and the conditions (e.g. an lr tuned per
        depth, or width in a depth-vs-width study at equal parameter count).
    attrs : list of str
        Fields that vary but are determined by the conditions alone (e.g. ``n_train`` zipped
        with ``dataset``): shown in panel titles, never a panel of their own.
    depths : list of int
    seeds : (int, int)
        Fewest and most seeds of any (condition, depth) cell.
    by_depth : dict
        The linked fields that depth alone determines (the same in every condition):
        field -> {depth: value}. Figures name these values in the depth legend.
    """

    varied: dict[str, list[Any]]
    fixed: dict[str, Any]
    conditions: list[str]
    linked: list[str]
    attrs: list[str]
    depths: list[int]
    seeds: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    by_depth: dict[str, dict[int, Any]] = field(default_factory=dict)


def norm_value(v: Any) -> Any:
    """A hashable, comparable value (NaN / NA -> None, numpy scalars -> Python)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float | np.floating) and math.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def distinct(s: pd.Series) -> list[Any]:
    """The distinct values of ``s``, normalised (:func:`norm_value`) and sorted, None last."""
    vals = {norm_value(v) for v in s.tolist()}
    try:
        return sorted(vals, key=lambda x: (x is None, x))
    except TypeError:
        return sorted(vals, key=repr)


def _determined(runs: pd.DataFrame, key: str, by: Sequence[str]) -> bool:
    """Whether ``key`` takes a single value within every group of ``by``."""
    col = runs[key].map(norm_value).astype(object)
    if not by:
        return col.nunique(dropna=False) <= 1
    frame = runs[list(by)].astype(object).map(norm_value).assign(_k=col)
    return bool(frame.groupby(list(by), dropna=False)["_k"].nunique(dropna=False).max() <= 1)


def grid_info(runs: pd.DataFrame) -> GridInfo:
    """Describe the grid behind a runs table: what varied, what was fixed, how to facet it.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table (:func:`fastdepth.store.load`), or any subset of it.

    Returns
    -------
    GridInfo
    """
    if len(runs) == 0:
        raise CannotDraw("no finished runs")
    cols = [c for c in CONFIG_COLUMNS if c in runs.columns]
    values = {c: distinct(runs[c]) for c in cols}
    varied = {c: v for c, v in values.items() if len(v) > 1}
    fixed = {c: v[0] for c, v in values.items() if len(v) == 1}
    cand = [c for c in varied if c not in ("depth", "seed")]
    # "widths" ("16,16") follows from depth and width for uniform networks.
    if "widths" in cand and _determined(runs, "widths", ["depth", "width"]):
        cand.remove("widths")
    # Redundant fields (a function of the others), dropped latest-first so that of two
    # mutually determined fields (dataset <-> n_train zipped) the earlier one stays.
    attrs: list[str] = []
    for k in reversed(list(cand)):
        others = [c for c in cand if c != k]
        if others and _determined(runs, k, others):
            cand.remove(k)
            attrs.insert(0, k)
    linked: list[str] = []
    if "depth" in runs.columns:
        for k in reversed(list(cand)):
            others = [c for c in cand if c != k]
            if _determined(runs, k, [*others, "depth"]):
                cand.remove(k)
                linked.insert(0, k)
    depths = sorted(int(d) for d in values.get("depth", [0]) if d is not None)
    cell = [*cand, "depth"] if "depth" in runs.columns else cand
    if "seed" in runs.columns and cell:
        n = runs.astype({c: object for c in cell}).groupby(cell, dropna=False)["seed"].nunique()
        seeds = (int(n.min()), int(n.max()))
    else:
        seeds = (len(runs), len(runs))
    by_depth = {}
    for k in linked:
        if _determined(runs, k, ["depth"]):
            pairs = runs[["depth", k]].drop_duplicates("depth")
            by_depth[k] = {int(d): norm_value(v) for d, v in pairs.itertuples(index=False)}
    return GridInfo(varied, fixed, cand, linked, attrs, depths, seeds, by_depth=by_depth)


def fmt_num(v: float) -> str:
    """A number as it reads in a figure: three significant digits (``0.00316``, ``100``)."""
    return f"{v:.3g}"


def fmt_value(key: str, v: Any) -> str:
    """A grid value as it reads in a title: ``'lr 0.05'``, ``'full batch'``, ``'circle'``."""
    v = norm_value(v)
    if key == "batch_size":
        return "full batch" if v is None else f"batch {v}"
    if key == "residual":
        return "residual" if v else "plain"
    if key == "dataset_params":
        try:
            d = json.loads(v) if isinstance(v, str) else dict(v or {})
        except (TypeError, ValueError):
            return str(v)
        return ", ".join(f"{a}={b}" for a, b in d.items()) or "default params"
    if v is None:
        return f"{key} default" if key in ("noise", "gain", "alpha") else f"{key} none"
    if key in ("dataset", "activation", "optimizer"):
        return str(v)
    if key == "init":
        return f"{v} init"
    if key == "loss":
        return f"{str(v).upper()} loss"
    if key == "epochs":
        return f"{v} epochs"
    if key == "schedule":
        return f"{v} lr schedule"
    if isinstance(v, float):
        return f"{key} {fmt_num(v)}"
    return f"{key} {v}"


def relevant(key: str, fixed: Mapping[str, Any]) -> bool:
    """Whether a fixed field changes the experiment enough to name it in a title."""
    v = norm_value(fixed.get(key))
    if key in _QUIET or key == "widths":
        return False
    if key in ("alpha", "gain", "sigma_w2", "sigma_b2", "noise", "clip") and v is None:
        return False
    if key == "dataset_params" and fmt_value(key, v) == "default params":
        return False
    hyper = {h for e in OPTIMIZERS.entries for h in e.hyper}
    opt = fixed.get("optimizer")
    if key in hyper and (opt not in OPTIMIZERS or key not in OPTIMIZERS.entry(opt).hyper):
        return False  # a setting the fixed optimizer does not read
    if key in ("residual_block", "residual_init") and not fixed.get("residual"):
        return False
    if key == "residual" and not v:
        return False
    if key == "weight_decay" and not v:
        return False
    if key == "schedule" and v == "constant":
        return False
    return not (key == "dtype" and v == "float64")


def fixed_text(info: GridInfo) -> str:
    """``'width 16, relu, he init, sgd, lr 0.05, full batch, 1000 epochs, ...'``."""
    parts = [fmt_value(k, v) for k, v in info.fixed.items() if relevant(k, info.fixed)]
    return ", ".join(parts)


def join_values(vals: Sequence[Any], sep: str = ", ", fmt: Callable[[float], str] = fmt_num) -> str:
    """Grid values joined by ``sep``, numbers written by ``fmt`` (default :func:`fmt_num`)."""
    return sep.join(fmt(v) if isinstance(v, float) else str(v) for v in vals)


def values_text(key: str, vals: Sequence[Any]) -> str:
    """The values a field took: ``'circle, rings'``, ``'7 values 0.001-1'``."""
    vals = [v for v in vals if v is not None] or list(vals)
    if key in ("lr", "weight_decay") and len(vals) > 5:
        return f"{len(vals)} values {fmt_num(min(vals))}-{fmt_num(max(vals))}"
    if len(vals) > 8:
        ints = all(isinstance(v, int) for v in vals)
        return f"{len(vals)} values {min(vals)}-{max(vals)}" if ints else f"{len(vals)} values"
    return join_values(vals)


def varied_text(info: GridInfo, extra: str = "") -> str:
    """``'depth (1, 2, 4), dataset (circle, rings); 50 seeds'``."""
    parts = []
    for k in ["depth", *info.conditions, *info.linked, *info.attrs]:
        if k not in info.varied:
            continue
        vals = values_text(k, info.varied[k])
        parts.append(f"{k} per depth (one of {vals})" if k in info.linked else f"{k} ({vals})")
    lo, hi = info.seeds
    seeds = f"{lo} seed{'s' * (lo != 1)}" if lo == hi else f"{lo}-{hi} seeds"
    if not parts:
        return f"only the seed ({seeds}){extra}" if hi > 1 else f"nothing (a single run){extra}"
    return f"{', '.join(parts)}; {seeds} per cell{extra}"


def depth_label(d: int, info: GridInfo) -> str:
    """``'depth 4'``, with the values depth alone determines: ``'depth 4 · lr 0.0316'``."""
    return " · ".join([f"depth {d}", *(fmt_value(k, v[d]) for k, v in info.by_depth.items())])


def linked_text(g: pd.DataFrame, info: GridInfo) -> str:
    """``'lr by depth: 1: 3, 2: 3, 4: 1'`` for the fields chosen per depth in ``g``.

    Fields that depth alone determines (:attr:`GridInfo.by_depth`) are left out: the depth
    legend names them. A value and its depth are joined by a no-break space, so a wrapped
    line never separates them.
    """
    parts = []
    for k in info.linked:
        if k in info.by_depth:
            continue
        pairs = g[["depth", k]].drop_duplicates().sort_values("depth")
        vals = ", ".join(f"{int(d)}:\u00a0{fmt_num(v) if isinstance(v, float) else v}"
                         for d, v in pairs.itertuples(index=False))  # fmt: skip
        parts.append(f"{k} by depth: {vals}")
    return "; ".join(parts)


def step_label(info: GridInfo) -> str:
    """The x label of a curve over training steps."""
    if "batch_size" in info.fixed and norm_value(info.fixed["batch_size"]) is None:
        return "step (full batch: step = epoch)"
    return "optimizer step"
