"""Figures of a sweep: every function takes loaded DataFrames and returns a matplotlib Figure.

::

    import fastdepth.plots as fp
    from fastdepth.store import load, load_curves, load_layers

    runs = load("runs/my-sweep")
    fig = fp.loss_curves(runs, load_curves("runs/my-sweep"))
    fig.savefig("loss.png")

The figures are built on :class:`matplotlib.figure.Figure` directly, never through
``pyplot``: they work under any backend (Agg included), nothing is registered in pyplot's
figure manager, so nothing is left open and nothing the caller owns is closed. In a notebook
a returned figure displays itself as the cell's value.

Conventions shared by every figure:

- one colour per depth (:func:`depth_palette`, a perceptually uniform sequential palette:
  shallow = dark, deep = light; readable in grey scale and for colour-blind readers), the same
  in every figure drawn from the same runs table, or pass ``palette=`` to fix it;
- panels: one column per *condition*, i.e. per combination of the grid fields other than
  depth and seed that vary in ``runs`` (usually just the dataset; see :func:`grid_info`);
- the title says what the figure shows, what varied and what was held fixed (columns of the
  runs table with a single value), and over how many seeds;
- diverged runs (``status == 'diverged'``) are left out of curves and of the across-seed
  statistics, and the figure says how many there were;
- a figure that cannot be drawn raises :class:`CannotDraw` (a ``ValueError``) saying why;
  caveats of a figure that was drawn (no CI with one seed, a depth whose runs all diverged)
  are listed by :func:`figure_notes`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from .metrics import mean_ci
from .model import predict
from .store import CONFIG_COLUMNS

__all__ = [
    "STYLE",
    "CannotDraw",
    "GridInfo",
    "accuracy_vs_depth",
    "best_lr",
    "dead_units",
    "decision_boundaries",
    "depth_palette",
    "figure_notes",
    "grad_norm_curves",
    "gradstats_vs_depth",
    "grid_info",
    "layer_grad_profile",
    "loss_curves",
    "lr_heatmaps",
    "oscillation_vs_depth",
    "representative_runs",
    "select_best_lr",
]

# Paper-ready defaults, applied only while a figure is built (never globally).
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.35,
    "axes.axisbelow": True,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "errorbar.capsize": 2.5,
    "image.interpolation": "nearest",
    "svg.hashsalt": "fastdepth",  # deterministic SVG ids
}
PANEL_W, PANEL_H = 3.4, 2.5  # inches per panel
TITLE_SIZE, SUBTITLE_SIZE = 11.5, 8.5
# Two classes of a 2-D dataset: Okabe-Ito blue / vermillion, also told apart by the marker.
CLASS_COLORS = ("#0072B2", "#D55E00")
CLASS_MARKERS = ("o", "^")
# Grid fields not worth a title (bookkeeping / defaults that do not change the experiment).
_QUIET = {"n_test", "data_seed", "eps", "log_every", "eval_every", "seed"}
_SEED_JITTER = 0.07  # fraction of the smallest depth gap


class CannotDraw(ValueError):
    """A figure cannot be drawn from these runs; the message says why."""


# ======================================================================================
# grid description


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
    """

    varied: dict[str, list[Any]]
    fixed: dict[str, Any]
    conditions: list[str]
    linked: list[str]
    attrs: list[str]
    depths: list[int]
    seeds: tuple[int, int]
    notes: list[str] = field(default_factory=list)


def _norm(v: Any) -> Any:
    """A hashable, comparable value (NaN / NA -> None, numpy scalars -> Python)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float | np.floating) and math.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _distinct(s: pd.Series) -> list[Any]:
    vals = {_norm(v) for v in s.tolist()}
    try:
        return sorted(vals, key=lambda x: (x is None, x))
    except TypeError:
        return sorted(vals, key=repr)


def _determined(runs: pd.DataFrame, key: str, by: Sequence[str]) -> bool:
    """Whether ``key`` takes a single value within every group of ``by``."""
    col = runs[key].map(_norm).astype(object)
    if not by:
        return col.nunique(dropna=False) <= 1
    frame = runs[list(by)].astype(object).map(_norm).assign(_k=col)
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
    values = {c: _distinct(runs[c]) for c in cols}
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
    return GridInfo(varied, fixed, cand, linked, attrs, depths, seeds)


def _g(v: float) -> str:
    return f"{v:g}"


def fmt_value(key: str, v: Any) -> str:
    """A grid value as it reads in a title: ``'lr 0.05'``, ``'full batch'``, ``'circle'``."""
    v = _norm(v)
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
        return f"{key} {_g(v)}"
    return f"{key} {v}"


def _relevant(key: str, fixed: Mapping[str, Any]) -> bool:
    """Whether a fixed field changes the experiment enough to name it in a title."""
    v = _norm(fixed.get(key))
    if key in _QUIET or key == "widths":
        return False
    if key in ("alpha", "gain", "sigma_w2", "sigma_b2", "noise", "clip") and v is None:
        return False
    if key == "dataset_params" and fmt_value(key, v) == "default params":
        return False
    if key == "momentum" and fixed.get("optimizer") != "momentum":
        return False
    if key in ("beta1", "beta2") and fixed.get("optimizer") != "adam":
        return False
    if key == "residual_block" and not fixed.get("residual"):
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
    parts = [fmt_value(k, v) for k, v in info.fixed.items() if _relevant(k, info.fixed)]
    return ", ".join(parts)


def _values_text(key: str, vals: Sequence[Any]) -> str:
    vals = [v for v in vals if v is not None] or list(vals)
    if key in ("lr", "weight_decay") and len(vals) > 5:
        return f"{len(vals)} values {_g(min(vals))}-{_g(max(vals))}"
    if len(vals) > 8:
        return f"{len(vals)} values"
    return ", ".join(_g(v) if isinstance(v, float) else str(v) for v in vals)


def varied_text(info: GridInfo, extra: str = "") -> str:
    """``'depth (1, 2, 4), dataset (circle, rings); 50 seeds'``."""
    keys = ["depth", *info.conditions, *info.linked, *info.attrs]
    parts = []
    for k in keys:
        if k in info.varied:
            tag = " (per depth)" if k in info.linked else ""
            parts.append(f"{k}{tag} ({_values_text(k, info.varied[k])})")
    lo, hi = info.seeds
    seeds = f"{lo} seed{'s' * (lo != 1)}" if lo == hi else f"{lo}-{hi} seeds"
    if not parts:
        return f"only the seed ({seeds}){extra}" if hi > 1 else f"nothing (a single run){extra}"
    return f"{', '.join(parts)}; {seeds} per cell{extra}"


# ======================================================================================
# colours, style, layout


def depth_palette(depths: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
    """One colour per depth, ordered: shallow = dark purple ... deep = yellow-green.

    Samples viridis (perceptually uniform, colour-blind safe, monotone in lightness) on
    ``[0, 0.85]``, leaving out the palest yellow, which is hard to see on white.
    """
    ds = sorted({int(d) for d in depths})
    cmap = mpl.colormaps["viridis"]
    if len(ds) == 1:
        return {ds[0]: cmap(0.3)}
    return {d: cmap(0.85 * i / (len(ds) - 1)) for i, d in enumerate(ds)}


def _styled(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            # Fonts, line widths and tick properties are fixed when the artists are made,
            # so the figure keeps this style wherever it is drawn later.
            return fn(*args, **kwargs)

    return wrapper


def figure_notes(fig: Figure) -> list[str]:
    """Caveats recorded while drawing ``fig`` (e.g. ``'single seed: no IQR band'``)."""
    return list(getattr(fig, "fastdepth_notes", []))


def _new_figure(
    nrows: int,
    ncols: int,
    title: str,
    info: GridInfo,
    *,
    extra: str = "",
    panel: tuple[float, float] = (PANEL_W, PANEL_H),
    sharex: bool | str = False,
    sharey: bool | str = False,
    right: float = 1.1,
    name: str = "",
    height_ratios: Sequence[float] | None = None,
) -> tuple[Figure, np.ndarray]:
    """A figure with an ``nrows x ncols`` grid of axes under a title block.

    The title block (what / varied / fixed) is laid out by hand above the
    constrained-layout area, so its size is known and nothing overlaps.
    """
    width = max(panel[0] * ncols + right, 6.0)
    body = width - right  # the legend column sits at the right, from the top down
    chars = int(body * 72 / (SUBTITLE_SIZE * 0.56))
    lines = [
        *textwrap.wrap("varied: " + varied_text(info, extra), chars),
        *textwrap.wrap("fixed: " + (fixed_text(info) or "-"), chars),
    ]
    head = (TITLE_SIZE * 1.5 + len(lines) * SUBTITLE_SIZE * 1.35 + 12) / 72  # inches
    height = panel[1] * (sum(height_ratios) if height_ratios else nrows) + head
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.set_layout_engine("constrained", rect=(0, 0, 1, 1 - head / height), h_pad=0.06)
    fig.fastdepth_notes = []  # type: ignore[attr-defined]
    fig.set_label(name)
    x = 0.5 * body / width
    y = 1 - 6 / 72 / height
    fig.text(x, y, title, ha="center", va="top", fontsize=TITLE_SIZE, fontweight="bold")
    y -= TITLE_SIZE * 1.5 / 72 / height
    fig.text(x, y, "\n".join(lines), ha="center", va="top", fontsize=SUBTITLE_SIZE,
             color="0.25", linespacing=1.35)  # fmt: skip
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey,
                        height_ratios=height_ratios)  # fmt: skip
    return fig, axes


def _note(fig: Figure, text: str) -> None:
    notes = fig.fastdepth_notes  # type: ignore[attr-defined]
    if text not in notes:
        notes.append(text)


def _depth_legend(
    fig: Figure,
    palette: Mapping[int, Any],
    depths: Sequence[int],
    extra: Sequence[tuple[Any, str]] = (),
    labels: Mapping[int, str] | None = None,
) -> None:
    handles: list[Any] = [Line2D([], [], color=palette[d], lw=2.5) for d in depths]
    texts = [(labels or {}).get(d, f"depth {d}") for d in depths]
    for h, t in extra:
        handles.append(h)
        texts.append(t)
    fig.legend(handles, texts, loc="outside right upper", handlelength=1.6)


def _empty_panel(ax: Axes, text: str) -> None:
    # set_axis_off, not empty ticks: tick locators are shared with the row / column
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4",
            fontsize=9)  # fmt: skip


# ======================================================================================
# selecting runs


def _conditions(runs: pd.DataFrame, info: GridInfo) -> list[tuple[str, pd.DataFrame]]:
    """``[(label, runs of that condition), ...]`` in grid order."""
    if not info.conditions:
        label = " · ".join(fmt_value(k, runs[k].iloc[0]) for k in info.attrs)
        if "dataset" in info.fixed and "dataset" not in info.attrs:
            label = " · ".join([str(info.fixed["dataset"]), *([label] if label else [])])
        return [(label, runs)]
    keys = info.conditions
    frame = runs[keys].astype(object).map(_norm)
    out = []
    for key, sub in frame.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        g = runs.loc[sub.index]
        label = " · ".join(fmt_value(k, v) for k, v in zip(keys, key, strict=True))
        for a in info.attrs:
            label += f" · {fmt_value(a, g[a].iloc[0])}"
        out.append((label, g))
    return out


def _linked_text(g: pd.DataFrame, info: GridInfo) -> str:
    """``'lr by depth: 1: 3, 2: 3, 4: 1'`` for fields chosen per depth (see GridInfo.linked)."""
    parts = []
    for k in info.linked:
        pairs = g[["depth", k]].drop_duplicates().sort_values("depth")
        vals = ", ".join(f"{int(d)}: {_g(v) if isinstance(v, float) else v}"
                         for d, v in pairs.itertuples(index=False))  # fmt: skip
        parts.append(f"{k} by depth: {vals}")
    return "; ".join(parts)


def _panel_title(ax: Axes, label: str, g: pd.DataFrame, info: GridInfo) -> None:
    linked = _linked_text(g, info)
    if linked:
        ax.set_title(f"{label}\n{linked}" if label else linked, fontsize=9)
    else:
        ax.set_title(label)


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] != "diverged"]


def _diverged_note(
    fig: Figure, label: str, d: int, n_div: int, n: int, missing: str = "nothing to draw"
) -> None:
    where = f"{label}, " if label else ""
    if n_div == n:
        _note(fig, f"{where}depth {d}: all {n} runs diverged, {missing}")
    elif n_div:
        _note(fig, f"{where}depth {d}: {n_div} of {n} runs diverged and are left out")


def _setup(
    runs: pd.DataFrame, palette: Mapping[int, Any] | None
) -> tuple[GridInfo, dict[int, Any]]:
    info = grid_info(runs)
    pal = dict(palette) if palette is not None else depth_palette(info.depths)
    missing = [d for d in info.depths if d not in pal]
    if missing:
        raise ValueError(f"palette has no colour for depth {missing}")
    return info, pal


def _matrix(long: pd.DataFrame, ids: Sequence[str], metric: str) -> pd.DataFrame:
    """``step x run`` matrix of one metric for the runs ``ids`` (steps with any value)."""
    sub = long[long["run_id"].isin(ids)]
    m = sub.pivot_table(index="step", columns="run_id", values=metric, aggfunc="first",
                        dropna=False)  # fmt: skip
    return m.dropna(how="all")


def _quantiles(m: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = m.index.to_numpy()
    v = m.to_numpy(dtype=np.float64)
    v = np.where(np.isfinite(v), v, np.nan)
    with np.errstate(all="ignore"), _quiet_nan():
        q = np.nanpercentile(v, [25, 50, 75], axis=1)
    return x, q[1], q[0], q[2]


class _quiet_nan:
    """Silence numpy's 'All-NaN slice' warnings (an empty step is simply not drawn)."""

    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._w.__exit__(*exc)


def _thin(x: np.ndarray, n_max: int) -> np.ndarray:
    """Indices of at most ``n_max`` evenly spread points, first and last kept."""
    if len(x) <= n_max:
        return np.arange(len(x))
    return np.unique(np.linspace(0, len(x) - 1, n_max).round().astype(int))


def _auto_log(values: Sequence[np.ndarray], ratio: float = 5.0) -> bool:
    v = np.concatenate([np.ravel(a) for a in values]) if values else np.empty(0)
    v = v[np.isfinite(v)]
    return bool(v.size and v.min() > 0 and v.max() / v.min() > ratio)


def _step_label(info: GridInfo) -> str:
    if "batch_size" in info.fixed and _norm(info.fixed["batch_size"]) is None:
        return "step (full batch: step = epoch)"
    return "optimizer step"


# ======================================================================================
# curves over training


def _curve_figure(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    rows: Sequence[tuple[str, str]],
    title: str,
    *,
    palette: Mapping[int, Any] | None,
    logy: bool | str,
    max_points: int,
    name: str,
) -> Figure:
    info, pal = _setup(runs, palette)
    conds = _conditions(runs, info)
    single = info.seeds[1] == 1
    title += "" if single else " (median over seeds)"
    fig, axes = _new_figure(len(rows), len(conds), title, info, extra="", name=name,
                            sharex="col", sharey="col")  # fmt: skip
    if single:
        _note(fig, "single seed: curves of that run, no median or IQR band")
    drawn = 0
    for j, (label, g) in enumerate(conds):
        series: dict[int, list[tuple[np.ndarray, ...]]] = {}
        for d in info.depths:
            gd = g[g["depth"] == d]
            ok = _ok(gd)
            _diverged_note(fig, label, d, len(gd) - len(ok), len(gd))
            if len(ok) == 0:
                continue
            for i, (metric, _) in enumerate(rows):
                m = _matrix(curves, ok["run_id"].tolist(), metric)
                if m.shape[0] == 0:
                    continue
                series.setdefault(i, []).append((d, *_quantiles(m)))
        # one y scale per column (rows share it): train and test loss read on one axis
        medians = [s[2] for i in series for s in series[i]]
        use_log = _auto_log(medians) if logy == "auto" else bool(logy)
        for i, (_, ylabel) in enumerate(rows):
            ax = axes[i, j]
            data = series.get(i, [])
            if not data:
                _empty_panel(ax, "no finite curve\n(all runs diverged)")
                continue
            for d, x, med, lo, hi in data:
                k = _thin(x, max_points)
                ax.plot(x[k], med[k], color=pal[d], label=f"depth {d}", zorder=3)
                if not single:
                    ax.fill_between(x[k], lo[k], hi[k], color=pal[d], alpha=0.18, lw=0,
                                    zorder=2)  # fmt: skip
                drawn += 1
            if use_log:
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            if i == len(rows) - 1:
                ax.set_xlabel(_step_label(info))
            ax.margins(x=0.01)
            if i == 0:
                _panel_title(ax, label, g, info)
    if drawn == 0:
        raise CannotDraw("every run diverged: no curves to draw")
    _depth_legend(fig, pal, info.depths, [(Patch(color="0.6", alpha=0.4), "IQR over seeds")]
                  if not single else ())  # fmt: skip
    return fig


@_styled
def loss_curves(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    logy: bool | str = "auto",
    max_points: int = 1200,
) -> Figure:
    """Training and test loss over training, per depth: median over seeds with an IQR band.

    Top row: the training loss logged every ``log_every`` steps (the minibatch loss; the
    full training loss for full-batch runs). Bottom row: the test loss at every evaluation.
    One column per condition (dataset). Diverged runs are left out (see
    :func:`figure_notes`), so every median is over the same runs at every step.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table (:func:`fastdepth.store.load`).
    curves : pandas.DataFrame
        Curves table (:func:`fastdepth.store.load_curves`) of those runs (or more).
    palette : mapping depth -> colour, optional
        Default :func:`depth_palette` of the depths in ``runs``.
    logy : bool or 'auto'
        Log loss axis; 'auto' when the medians span more than a factor of 5.
    max_points : int
        At most this many points per line (evenly spaced, first and last kept).

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [("loss", "training loss"), ("test_loss", "test loss")]
    title = "Loss during training by depth"
    return _curve_figure(runs, curves, rows, title, palette=palette, logy=logy,
                         max_points=max_points, name="loss_curves")  # fmt: skip


@_styled
def grad_norm_curves(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    logy: bool | str = "auto",
    max_points: int = 1200,
) -> Figure:
    """Total gradient norm over training, per depth: median over seeds with an IQR band.

    The Euclidean norm of the whole gradient (all layers) at every logged step: how hard
    the network is being pushed, whether it settles, spikes or explodes. One panel per
    condition; log scale when the medians span more than a factor of 5.

    Parameters
    ----------
    runs, curves, palette, logy, max_points
        As in :func:`loss_curves`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [("grad_norm", "gradient norm ‖∇L‖")]
    title = "Gradient norm during training by depth"
    return _curve_figure(runs, curves, rows, title, palette=palette, logy=logy,
                         max_points=max_points, name="grad_norm_curves")  # fmt: skip


# ======================================================================================
# per-layer profiles


def _per_layer(g: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Median, 25% and 75% over runs of a per-layer list column (NaN lists skipped)."""
    rows = [np.asarray(v, dtype=np.float64) for v in g[column] if v is not None]
    rows = [r for r in rows if r.size and np.isfinite(r).any()]
    if not rows:
        return None
    n = max(r.size for r in rows)
    m = np.full((len(rows), n), np.nan)
    for i, r in enumerate(rows):
        m[i, : r.size] = r
    with _quiet_nan():
        q = np.nanpercentile(m, [25, 50, 75], axis=0)
    return q[1], q[0], q[2]


def _layers_at(layers: pd.DataFrame, ids: Sequence[str], which: str) -> pd.DataFrame:
    """``run x layer`` gradient norms at the first step or the last finite logged step."""
    sub = layers[layers["run_id"].isin(ids) & np.isfinite(layers["grad_norm"])]
    if which == "init":
        step = sub.groupby("run_id")["step"].transform("min")
    else:
        step = sub.groupby("run_id")["step"].transform("max")
    at = sub[sub["step"] == step]
    return at.pivot_table(index="run_id", columns="layer", values="grad_norm", aggfunc="first")


@_styled
def layer_grad_profile(
    runs: pd.DataFrame,
    layers: pd.DataFrame | None = None,
    *,
    palette: Mapping[int, Any] | None = None,
) -> Figure:
    """Per-layer gradient norm, from the output layer back to the input, at init and at the end.

    x is the layer's distance from the output (0 = output layer, ``depth`` = first hidden
    layer), so networks of every depth line up at the output and a gradient that vanishes
    (or explodes) on its way back to the input shows as a line falling (or rising) to the
    right. y is the Frobenius norm of that layer's weight gradient, log scale: median over
    seeds, bars = inter-quartile range. Top row at initialisation (all runs), bottom row at
    the last logged step (diverged runs left out).

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table.
    layers : pandas.DataFrame, optional
        Layers table (:func:`fastdepth.store.load_layers`). Without it the bottom row shows
        the mean over training (``layer_grad_norm_mean`` of the runs table) instead of the
        end of training.
    palette : mapping depth -> colour, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    info, pal = _setup(runs, palette)
    conds = _conditions(runs, info)
    end_label = "at the end of training" if layers is not None else "mean over training"
    fig, axes = _new_figure(2, len(conds), "Per-layer gradient norm: output → input", info,
                            name="layer_grad_profile", sharey=True, sharex=True)  # fmt: skip
    single = info.seeds[1] == 1
    if single:
        _note(fig, "single seed: no IQR bars")
    if layers is None:
        _note(fig, "no layers table: bottom row = mean over training, not the end")
    for j, (label, g) in enumerate(conds):
        for i, which in enumerate(("init", "end")):
            ax = axes[i, j]
            drawn = 0
            for d in info.depths:
                gd = g[g["depth"] == d]
                src = gd if which == "init" else _ok(gd)
                if which == "end":
                    _diverged_note(
                        fig, label, d, len(gd) - len(src), len(gd), "no end-of-training values"
                    )
                if len(src) == 0:
                    continue
                if layers is None:
                    col = "layer_grad_norm_init" if which == "init" else "layer_grad_norm_mean"
                    q = _per_layer(src, col)
                else:
                    m = _layers_at(layers, src["run_id"].tolist(), which)
                    if m.shape[0] == 0:
                        q = None
                    else:
                        v = m.to_numpy(np.float64)
                        with _quiet_nan():
                            qq = np.nanpercentile(v, [25, 50, 75], axis=0)
                        q = (qq[1], qq[0], qq[2])
                if q is None:
                    continue
                med, lo, hi = q
                # layer k sits at distance depth - k; depths dodged apart a little
                dodge = 0.07 * (info.depths.index(d) - (len(info.depths) - 1) / 2)
                x = d - np.arange(med.size) + dodge
                pos = np.isfinite(med) & (med > 0)
                yerr = None if single else np.vstack([med - lo, hi - med])[:, pos]
                eb = ax.errorbar(x[pos], med[pos], yerr=yerr, color=pal[d], marker="o", ms=4,
                                 lw=1.6, elinewidth=1, zorder=3)  # fmt: skip
                eb.lines[0].set_label(f"depth {d}")
                drawn += 1
            if not drawn:
                _empty_panel(ax, "nothing to draw\n(all runs diverged)")
                continue
            ax.set_yscale("log")
            if i == 1:
                ax.set_xlabel("layer, counted from the output (0 = output)")
            ax.set_ylabel("‖∂L/∂W‖ of the layer\n" + ("at init" if which == "init" else end_label))
            ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
            ax.set_xlim(-0.4, max(info.depths) + 0.4)
            if i == 0:
                _panel_title(ax, label, g, info)
    _depth_legend(fig, pal, info.depths)
    return fig


# ======================================================================================
# metrics against depth


def _depth_x(depths: Sequence[int]) -> tuple[float, bool]:
    """Offset unit for side-by-side markers, and whether a log2 depth axis is clearer."""
    ds = sorted(depths)
    log = len(ds) > 3 and ds[0] >= 1 and ds[-1] / ds[0] >= 16
    if log:
        return 0.06, True
    gap = min(np.diff(ds)) if len(ds) > 1 else 1.0
    return float(gap), False


def _xpos(d: float, off: float, unit: float, log: bool) -> float:
    return d * 2 ** (off * unit) if log else d + off * unit


def _metric_vs_depth(
    ax: Axes,
    g: pd.DataFrame,
    info: GridInfo,
    pal: Mapping[int, Any],
    series: Sequence[tuple[str, str, str, float]],
    *,
    seeds: bool,
) -> list[np.ndarray]:
    """Mean +- 95% CI over seeds of run metrics against depth; returns the values drawn.

    ``series`` = ``[(column, marker, linestyle, offset), ...]``; the first one gets seed dots.
    """
    unit, logx = _depth_x(info.depths)
    rng = np.random.default_rng(0)  # deterministic jitter
    allv = []
    for s, (col, marker, ls, off) in enumerate(series):
        xs, ms = [], []
        for d in info.depths:
            gd = _ok(g[g["depth"] == d])
            v = gd[col].to_numpy(np.float64)
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            m, _, ci, n = mean_ci(v)
            x = _xpos(d, off * 0.25, unit, logx)
            filled = marker.endswith("f")
            mk = marker.rstrip("f")
            ax.errorbar([x], [m], yerr=None if not math.isfinite(ci) else [[ci], [ci]],
                        color=pal[d], marker=mk, ms=6, mfc=pal[d] if filled else "white",
                        mew=1.4, elinewidth=1.4, zorder=4, ls="none")  # fmt: skip
            if seeds and s == 0 and v.size > 1:
                jit = rng.uniform(-1, 1, v.size) * _SEED_JITTER
                xj = [_xpos(d, off * 0.25 + j, unit, logx) for j in jit]
                ax.scatter(xj, v, s=7, color=pal[d], alpha=0.5, lw=0, zorder=2)
            xs.append(x)
            ms.append(m)
            allv.append(v)
        if len(xs) > 1:
            ax.plot(xs, ms, color="0.45", ls=ls, lw=1.0, zorder=3)
    ax.set_xlabel("depth (hidden layers)")
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xticks(info.depths)
    ax.set_xticklabels([str(d) for d in info.depths])
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.grid(False, axis="x")
    return allv


def _vs_depth_figure(
    runs: pd.DataFrame,
    rows: Sequence[tuple[Sequence[tuple[str, str, str, float]], str, bool | str]],
    title: str,
    name: str,
    *,
    palette: Mapping[int, Any] | None,
    show_seeds: bool,
    legend_extra: Sequence[tuple[Any, str]] = (),
    decorate: Callable[[Axes, int], None] | None = None,
) -> Figure:
    info, pal = _setup(runs, palette)
    if len(info.depths) < 2:
        raise CannotDraw(f"a single depth ({info.depths[0]}): no trend against depth to draw")
    conds = _conditions(runs, info)
    fig, axes = _new_figure(len(rows), len(conds), title, info, name=name, sharey="row",
                            panel=(PANEL_W, PANEL_H * 0.95),
                            right=1.7 if legend_extra else 1.2)  # fmt: skip
    if info.seeds[0] < 2:
        _note(fig, "single seed: points without confidence intervals")
    values: dict[int, list[np.ndarray]] = {i: [] for i in range(len(rows))}
    drawn = np.zeros(axes.shape, dtype=bool)
    for j, (label, g) in enumerate(conds):
        for d in info.depths:
            gd = g[g["depth"] == d]
            _diverged_note(fig, label, d, int((gd["status"] == "diverged").sum()), len(gd))
        for i, (series, ylabel, _) in enumerate(rows):
            ax = axes[i, j]
            v = _metric_vs_depth(ax, g, info, pal, series, seeds=show_seeds)
            if i == 0:
                _panel_title(ax, label, g, info)
            if not v:
                _empty_panel(ax, "no finite values\n(all runs diverged?)")
                continue
            values[i] += v
            drawn[i, j] = True
            ax.set_ylabel(ylabel)
    if not drawn.any():
        cols = ", ".join(dict.fromkeys(c for series, _, _ in rows for c, *_ in series))
        if (runs["status"] == "diverged").all():
            raise CannotDraw(f"every run diverged: no finite {cols}")
        if "loss" in runs.columns and (runs["loss"] == "mse").all():
            raise CannotDraw(f"no {cols}: a regression task (MSE loss) has no accuracy")
        raise CannotDraw(f"no finite {cols} in any run")
    for i, (_, _, logy) in enumerate(rows):  # one scale per row (the row shares y)
        use_log = _auto_log(values[i], 10) if logy == "auto" else bool(logy)
        for j in range(axes.shape[1]):
            if drawn[i, j]:
                if use_log:
                    axes[i, j].set_yscale("log")
                if decorate is not None:
                    decorate(axes[i, j], i)
    extra = list(legend_extra)
    if show_seeds and info.seeds[1] > 1:
        extra.append((Line2D([], [], ls="none", marker="o", ms=3, color="0.5", alpha=0.6),
                      "single seeds"))  # fmt: skip
    _depth_legend(fig, pal, info.depths, extra)
    return fig


@_styled
def accuracy_vs_depth(
    runs: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    show_seeds: bool = True,
) -> Figure:
    """Final train and test accuracy against depth: mean and 95% CI over seeds.

    Filled markers = test, open markers = train (Student-t 95% CI of the mean over seeds,
    diverged runs left out, as in the summary table); small dots = the test accuracy of
    single seeds, which shows bimodal outcomes (some seeds stuck at chance) that a mean
    hides. The dotted line is chance (0.5 for the balanced datasets).

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table.
    palette : mapping depth -> colour, optional
    show_seeds : bool
        Draw the single-seed dots.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CannotDraw
        With a single depth, or when no run has a finite accuracy (regression, diverged).
    """
    series = [("final_test_acc", "of", "-", 0.5), ("final_train_acc", "o", "--", -0.5)]

    def chance(ax: Axes, i: int) -> None:
        ax.axhline(0.5, color="0.5", ls=":", lw=1, zorder=1)
        ax.text(1.0, 0.5, "chance ", transform=ax.get_yaxis_transform(), ha="right",
                va="bottom", fontsize=8, color="0.4")  # fmt: skip
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 0.45), min(max(hi, 0.6), 1.02))

    extra = [
        (Line2D([], [], color="0.3", marker="o", ls="-", lw=1), "test (mean ± 95% CI)"),
        (Line2D([], [], color="0.3", marker="o", mfc="white", ls="--", lw=1), "train"),
    ]
    return _vs_depth_figure(runs, [(series, "final accuracy", False)],
                            "Final accuracy against depth", "accuracy_vs_depth",
                            palette=palette, show_seeds=show_seeds, legend_extra=extra,
                            decorate=chance)  # fmt: skip


@_styled
def gradstats_vs_depth(
    runs: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    show_seeds: bool = True,
) -> Figure:
    """Gradient-norm statistics over training against depth: mean (top) and CV (bottom).

    Per run, the mean and the coefficient of variation (std / mean) of the total gradient
    norm over all logged steps; plotted as mean and 95% CI over seeds, with single seeds
    as dots. A high CV means an erratic, spiky optimisation path.

    Parameters
    ----------
    runs, palette, show_seeds
        As in :func:`accuracy_vs_depth`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [
        ([("grad_norm_mean", "of", "-", 0.0)], "mean ‖∇L‖ over training", "auto"),
        ([("grad_norm_cv", "of", "-", 0.0)], "CV of ‖∇L‖ (std / mean)", False),
    ]
    return _vs_depth_figure(runs, rows, "Gradient-norm mean and variability against depth",
                            "gradstats_vs_depth", palette=palette,
                            show_seeds=show_seeds)  # fmt: skip


@_styled
def oscillation_vs_depth(
    runs: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    show_seeds: bool = True,
) -> Figure:
    """Oscillation of the training loss against depth.

    Top: ``up_fraction``, the share of logged steps at which the loss went up (0 for a
    monotone descent). Bottom: ``tv_ratio``, the total variation of the loss curve over its
    net decrease (1 = monotone, dotted line; log scale when it spans a decade). Mean and
    95% CI over seeds, single seeds as dots.

    Parameters
    ----------
    runs, palette, show_seeds
        As in :func:`accuracy_vs_depth`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [
        ([("up_fraction", "of", "-", 0.0)], "share of steps where\nthe loss rose", False),
        ([("tv_ratio", "of", "-", 0.0)], "total variation /\nnet loss decrease", "auto"),
    ]

    def monotone(ax: Axes, i: int) -> None:
        if i == 1:
            ax.axhline(1.0, color="0.5", ls=":", lw=1, zorder=1)
        else:
            lo, hi = ax.get_ylim()
            ax.set_ylim(min(lo, 0.0) - 0.02 * max(hi, 0.05), max(hi, 0.05))

    return _vs_depth_figure(runs, rows, "Oscillation of the training loss against depth",
                            "oscillation_vs_depth", palette=palette, show_seeds=show_seeds,
                            decorate=monotone)  # fmt: skip


# ======================================================================================
# dead units


@_styled
def dead_units(
    runs: pd.DataFrame,
    layers: pd.DataFrame | None = None,
    *,
    palette: Mapping[int, Any] | None = None,
) -> Figure:
    """Dead hidden units per layer at init and at the end, and the born-dead share, by depth.

    Rows 1-2: the fraction of units of each hidden layer that are dead (pre-activation
    <= 0 on every training input; layer 1 = next to the input), mean over seeds, at
    initialisation and at the end of training (diverged runs left out). Row 3: the share
    of runs *born dead* (some hidden layer entirely dead at init, so the output is constant
    and nothing trains), with the count on each bar. With ``layers``, a 4th row shows the
    dead fraction of all hidden units during training (mean over seeds).

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table.
    layers : pandas.DataFrame, optional
        Layers table, for the dead fraction during training.
    palette : mapping depth -> colour, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    info, pal = _setup(runs, palette)
    conds = _conditions(runs, info)
    nrows = 4 if layers is not None else 3
    ratios = [1.0] * (nrows - 1) + [0.7]
    fig, axes = _new_figure(nrows, len(conds), "Dead hidden units by depth", info,
                            name="dead_units", height_ratios=ratios)  # fmt: skip
    top = 0.0  # the fraction rows share one y range, fitted to the data
    fraction_axes: list[Axes] = []
    for j, (label, g) in enumerate(conds):
        for i, (col, when) in enumerate((("layer_dead_init", "at init"),
                                         ("layer_dead_end", "at the end"))):  # fmt: skip
            ax = axes[i, j]
            if i == 0:
                _panel_title(ax, label, g, info)
            drawn = 0
            for d in info.depths:
                gd = g[g["depth"] == d]
                src = gd if i == 0 else _ok(gd)
                if i == 1:
                    _diverged_note(
                        fig, label, d, len(gd) - len(src), len(gd), "no end-of-training values"
                    )
                rows = [np.asarray(v, np.float64) for v in src[col] if v is not None]
                rows = [r for r in rows if r.size and np.isfinite(r).all()]
                if not rows:
                    continue
                mean = np.mean(np.vstack(rows), axis=0)
                x = np.arange(1, mean.size + 1)
                ax.plot(x, mean, color=pal[d], marker="o", ms=4, label=f"depth {d}", zorder=3)
                top = max(top, float(mean.max()))
                drawn += 1
            if not drawn:
                _empty_panel(ax, "no hidden layers" if max(info.depths) == 0 else
                             "nothing to draw\n(all runs diverged)")  # fmt: skip
                continue
            fraction_axes.append(ax)
            ax.set_xlabel("hidden layer (1 = next to the input)")
            ax.set_ylabel(f"dead fraction\n{when} (mean)")
            ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        if layers is not None:
            ax = axes[2, j]
            drawn = 0
            for d in info.depths:
                ok = _ok(g[g["depth"] == d])
                if len(ok) == 0:
                    continue
                sub = layers[layers["run_id"].isin(ok["run_id"]) & layers["dead"].notna()]
                if len(sub) == 0:
                    continue
                per_run = sub.groupby(["run_id", "step"])["dead"].mean()
                curve = per_run.groupby("step").mean()
                ax.plot(curve.index, curve.to_numpy(), color=pal[d], marker=".", ms=3)
                top = max(top, float(curve.max()))
                drawn += 1
            if drawn:
                fraction_axes.append(ax)
                ax.set_xlabel(_step_label(info))
                ax.set_ylabel("dead fraction, all\nhidden layers (mean)")
            else:
                _empty_panel(ax, "nothing to draw")
        ax = axes[-1, j]
        unit, logx = _depth_x(info.depths)
        for d in info.depths:
            gd = g[g["depth"] == d]
            n = len(gd)
            k = int(gd["born_dead"].astype(bool).sum())
            share = k / n if n else math.nan
            x = _xpos(d, 0, unit, logx)
            ax.bar(x, share, width=x * 0.25 if logx else 0.6 * unit, color=pal[d])
            ax.text(x, share + 0.03, f"{k}/{n}", ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, 1.2)
        ax.set_yticks([0, 0.5, 1])
        ax.set_xlabel("depth (hidden layers)")
        ax.set_ylabel("share of runs\nborn dead")
        if logx:
            ax.set_xscale("log", base=2)
        ax.set_xticks(info.depths)
        ax.set_xticklabels([str(d) for d in info.depths])
        ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
        ax.grid(False, axis="x")
    top = min(1.0, max(0.1, 1.15 * top))
    for ax in fraction_axes:
        ax.set_ylim(-0.03 * top, top)
    _depth_legend(fig, pal, info.depths)
    return fig


# ======================================================================================
# learning-rate heatmaps


def best_lr(runs: pd.DataFrame, metric: str = "final_train_loss") -> pd.DataFrame:
    """The best learning rate per condition and depth.

    Best = the lowest median ``metric`` over seeds among the learning rates at which no
    seed diverged (or, if every lr diverged somewhere, the lowest divergence rate first);
    ties go to the smaller lr.

    Returns
    -------
    pandas.DataFrame
        The condition columns (:attr:`GridInfo.conditions` without ``lr``), ``depth``,
        ``lr``, ``median`` (of ``metric``), ``diverged`` (share of seeds).
    """
    info = grid_info(runs)
    keys = [k for k in info.conditions if k != "lr"] + ["depth"]
    frame = runs.assign(_div=(runs["status"] == "diverged").astype(float))
    frame = frame.assign(_m=np.where(frame["_div"] > 0, np.nan, frame[metric]))
    agg = frame.groupby([*keys, "lr"], sort=False, dropna=False).agg(
        median=("_m", "median"), diverged=("_div", "mean")
    )
    agg = agg.reset_index()
    agg["_med"] = agg["median"].fillna(np.inf)
    agg = agg.sort_values(["diverged", "_med", "lr"], kind="stable")
    best = agg.groupby(keys, sort=False, dropna=False).head(1)
    # back to grid order: conditions and depths as they first appear in the runs table
    order = runs[keys].astype(object).map(_norm).drop_duplicates().reset_index(drop=True)
    rank = best[keys].astype(object).map(_norm).merge(order.reset_index(), on=keys, how="left")
    best = best.iloc[np.argsort(rank["index"].to_numpy(), kind="stable")]
    return best[[*keys, "lr", "median", "diverged"]].reset_index(drop=True)


def select_best_lr(runs: pd.DataFrame, metric: str = "final_train_loss") -> pd.DataFrame:
    """The runs at the best learning rate of each condition and depth (:func:`best_lr`)."""
    b = best_lr(runs, metric)
    keys = [c for c in b.columns if c not in ("median", "diverged")]
    sel = runs.merge(b[keys], on=keys, how="inner")
    return runs[runs["run_id"].isin(sel["run_id"])]


def _text_color(rgba: Sequence[float]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


@_styled
def lr_heatmaps(
    runs: pd.DataFrame,
    *,
    metric: str = "final_train_loss",
    annotate: bool | str = "auto",
) -> Figure:
    """Depth x learning-rate heatmaps: final loss, test accuracy, divergence rate.

    One row per condition, three panels: the median final training loss over seeds
    (log colour scale; non-diverged seeds), the mean final test accuracy, and the share of
    seeds that diverged. Rows are depths, columns learning rates. The best lr of each
    depth (:func:`best_lr`) is outlined in every panel; cells where every seed diverged are
    grey and marked "div".

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table with at least two learning rates.
    metric : str
        Runs-table column that picks the best lr (lower is better).
    annotate : bool or 'auto'
        Write the value in every cell ('auto': when there are at most 12 lrs).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CannotDraw
        With a single learning rate.
    """
    info = grid_info(runs)
    lrs = sorted(float(v) for v in runs["lr"].dropna().unique())
    if len(lrs) < 2:
        raise CannotDraw(f"a single learning rate ({_g(lrs[0]) if lrs else '-'}): no heatmap")
    info_nolr = dataclasses.replace(info, conditions=[c for c in info.conditions if c != "lr"],
                                    linked=[c for c in info.linked if c != "lr"])  # fmt: skip
    conds = _conditions(runs, info_nolr)
    depths = info.depths
    n_lr = len(lrs)
    panel = (max(3.0, 0.42 * n_lr + 1.6), max(1.8, 0.36 * len(depths) + 1.1))
    extra = f"; outlined: the best lr of each depth (lowest median {metric}, fewest diverged)"
    fig, axes = _new_figure(len(conds), 3, "Depth × learning rate", info, panel=panel,
                            name="lr_heatmaps", extra=extra, right=0.3)  # fmt: skip
    ann = (n_lr <= 12) if annotate == "auto" else bool(annotate)
    panels = [
        ("median final train loss", "viridis_r", "loss"),
        ("mean final test accuracy", "viridis", "acc"),
        ("share of seeds diverged", "Greys", "div"),
    ]
    best = best_lr(runs, metric)
    for i, (label, g) in enumerate(conds):
        mats = {k: np.full((len(depths), n_lr), np.nan) for k in ("loss", "acc", "div")}
        for (d, lr), c in g.groupby(["depth", "lr"]):
            r, col = depths.index(int(d)), lrs.index(float(lr))
            ok = _ok(c)
            mats["div"][r, col] = float((c["status"] == "diverged").mean())
            loss = ok[metric].to_numpy(np.float64)
            loss = loss[np.isfinite(loss)]
            acc = ok["final_test_acc"].to_numpy(np.float64)
            acc = acc[np.isfinite(acc)]
            mats["loss"][r, col] = np.median(loss) if loss.size else np.nan
            mats["acc"][r, col] = acc.mean() if acc.size else np.nan
        bsub = best
        for k, v in zip(info_nolr.conditions, _cond_values(g, info_nolr.conditions),
                        strict=True):  # fmt: skip
            bsub = bsub[bsub[k].map(_norm) == v]
        for p, (title, cmap_name, key) in enumerate(panels):
            ax = axes[i, p]
            m = mats[key]
            cmap = mpl.colormaps[cmap_name].with_extremes(bad="0.85")
            finite = m[np.isfinite(m)]
            if key == "loss" and finite.size and finite.min() > 0 and _auto_log([finite], 10):
                norm: mcolors.Normalize = mcolors.LogNorm(finite.min(), finite.max())
            elif key in ("div",):
                norm = mcolors.Normalize(0, 1)
            elif key == "acc":
                lo = min(0.5, float(finite.min())) if finite.size else 0.5
                norm = mcolors.Normalize(lo, 1)
            else:
                norm = mcolors.Normalize(*(finite.min(), finite.max()) if finite.size
                                         else (0, 1))  # fmt: skip
            im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, norm=norm, aspect="auto")
            fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
            ax.set_xticks(range(n_lr))
            ax.set_xticklabels([_g(lr) for lr in lrs], rotation=45 if n_lr > 4 else 0,
                               ha="right" if n_lr > 4 else "center")  # fmt: skip
            ax.set_yticks(range(len(depths)))
            ax.set_yticklabels([str(d) for d in depths])
            ax.set_xlabel("learning rate")
            ax.set_ylabel("depth")
            ax.grid(False)
            for s in ax.spines.values():
                s.set_visible(False)
            ax.set_title(f"{label}: {title}" if label and len(conds) > 1 else title)
            for r in range(len(depths)):
                for col in range(n_lr):
                    v = m[r, col]
                    if key != "div" and not np.isfinite(v) and mats["div"][r, col] == 1:
                        ax.text(col, r, "div", ha="center", va="center", fontsize=7,
                                color="0.3")  # fmt: skip
                    elif ann and np.isfinite(v):
                        txt = f"{v:.2f}" if key != "loss" else f"{v:.2g}"
                        ax.text(col, r, txt, ha="center", va="center", fontsize=7,
                                color=_text_color(cmap(norm(v))))  # fmt: skip
            for _, b in bsub.iterrows():
                r, col = depths.index(int(b["depth"])), lrs.index(float(b["lr"]))
                if p == 0 and col in (0, n_lr - 1):
                    edge = "largest" if col == n_lr - 1 else "smallest"
                    where = f"{label}, " if label else ""
                    _note(
                        fig,
                        f"{where}depth {int(b['depth'])}: the best lr ({_g(lrs[col])}) "
                        f"is the {edge} in the grid; the optimum may lie beyond it",
                    )
                for lw, c in ((3.2, "white"), (1.6, "black")):
                    ax.add_patch(Rectangle((col - 0.5, r - 0.5), 1, 1, fill=False, lw=lw,
                                           ec=c, zorder=5))  # fmt: skip
    return fig


def _cond_values(g: pd.DataFrame, keys: Sequence[str]) -> list[Any]:
    return [_norm(g[k].iloc[0]) for k in keys]


# ======================================================================================
# decision boundaries


def representative_runs(runs: pd.DataFrame, metric: str = "final_test_acc") -> pd.DataFrame:
    """One run per condition and depth: the seed whose ``metric`` is closest to the median.

    Diverged runs are never chosen; ties go to the smallest seed. Conditions whose runs all
    diverged have no row.
    """
    info = grid_info(runs)
    keys = [*info.conditions, *info.linked, "depth"]
    ok = _ok(runs)
    if len(ok) == 0:
        return ok
    frame = ok.astype({k: object for k in keys})
    med = frame.groupby(keys, dropna=False)[metric].transform("median")
    dist = (frame[metric] - med).abs().fillna(np.inf)
    frame = frame.assign(_dist=dist).sort_values(["_dist", "seed"], kind="stable")
    pick = frame.groupby(keys, sort=False, dropna=False).head(1)
    return runs.loc[pick.index].sort_values("run_index", kind="stable")


def _config_of(row: pd.Series) -> Any:
    """The :class:`RunConfig` of a runs-table row."""
    from .config import RunConfig

    d: dict[str, Any] = {}
    for name in CONFIG_COLUMNS:
        if name not in row.index:
            continue
        v = _norm(row[name])
        if name == "widths":
            v = tuple(int(w) for w in str(v).split(",")) if v else None
        elif name == "dataset_params":
            v = json.loads(v) if v else {}
        d[name] = v
    return RunConfig.from_dict(d)


def _predict(cfg: Any, params: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray) -> np.ndarray:
    """The network's output (logit, or prediction for regression) at ``X`` (n, n_in)."""
    return predict(cfg, params, X).astype(np.float64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@_styled
def decision_boundaries(
    store: str | Path | pd.DataFrame,
    runs: pd.DataFrame | None = None,
    *,
    palette: Mapping[int, Any] | None = None,
    resolution: int = 200,
    max_points: int = 400,
    path: str | Path | None = None,
) -> Figure:
    """What each depth learned: the trained network of a representative seed on the input space.

    One column per depth, one row per condition. For a 2-D dataset the background is the
    predicted probability of class 1 on a ``resolution`` x ``resolution`` grid over the
    dataset's bounding box (blue = class 0, red = class 1, black line = the decision
    boundary p = 0.5), with up to ``max_points`` training points on top (blue circles =
    class 0, red triangles = class 1). For a 1-D dataset, the network's output against the
    input, with the data. The seed shown is the one with the median test accuracy of its
    depth (:func:`representative_runs`); its test accuracy is in the panel title.

    Parameters
    ----------
    store : path or pandas.DataFrame
        The store directory (its runs table is loaded unless ``runs`` is given), or a runs
        table; then the store path must be given as ``path``.
    runs : pandas.DataFrame, optional
        The runs to choose from (default: all runs of the store).
    palette : mapping depth -> colour, optional
        Colours of the panel titles.
    resolution : int
        Grid points per axis.
    max_points : int
        Training points drawn per panel (an even subsample).
    path : path, optional
        The store directory, when ``store`` is a runs table.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CannotDraw
        When every run diverged, or the inputs have more than 2 dimensions.
    """
    from . import datasets
    from .store import load, load_params

    if isinstance(store, pd.DataFrame):
        if path is None:
            raise TypeError("decision_boundaries(runs_table, ...) needs path=<store directory>")
        runs = store if runs is None else runs
    else:
        path = store
        runs = load(path, timing=False) if runs is None else runs
    info, pal = _setup(runs, palette)
    reps = representative_runs(runs)
    if len(reps) == 0:
        raise CannotDraw("every run diverged: no trained network to draw")
    conds = _conditions(runs, info)
    depths = info.depths
    fig, axes = _new_figure(len(conds), len(depths), "What each depth learned", info,
                            extra="; the seed with the median test accuracy is shown",
                            panel=(2.3, 2.55), right=0.9,
                            name="decision_boundaries")  # fmt: skip
    cf = None
    maps: list[Axes] = []  # the 2-D panels, which the colour bar belongs to
    for i, (label, g) in enumerate(conds):
        for j, d in enumerate(depths):
            ax = axes[i, j]
            rep = reps[reps["run_id"].isin(g["run_id"]) & (reps["depth"] == d)]
            head = f"depth {d}"
            if j == 0 and label:
                ax.set_ylabel(label, fontsize=10)
            if len(rep) == 0:
                n = int((g["depth"] == d).sum())
                ax.set_title(head, fontsize=9)
                _empty_panel(ax, f"all {n} runs\ndiverged" if n else "no runs")
                continue
            row = rep.iloc[0]
            cfg = _config_of(row)
            if cfg.n_in > 2:
                raise CannotDraw(f"{cfg.dataset} has {cfg.n_in} inputs: no 2-D picture")
            params = load_params(path, row["run_id"])
            Xtr, ytr, _, _ = cfg.data()
            box = datasets.bounding_box(cfg.dataset, cfg.noise, **cfg.dataset_kwargs)
            k = _thin(np.arange(len(Xtr)), max_points)
            acc = row["final_test_acc"]
            sub = f"seed {int(row['seed'])}"
            for lk in info.linked:
                sub += f" · {fmt_value(lk, row[lk])}"
            if np.isfinite(acc):
                sub += f" · test acc {acc:.3f}"
            ax.set_title(f"{head}\n{sub}", fontsize=9)
            ax.grid(False)
            for s in ax.spines.values():
                s.set_visible(True)
                s.set_edgecolor(pal[d])
                s.set_linewidth(2.5)
            if cfg.n_in == 2:
                xs = np.linspace(box[0, 0], box[0, 1], resolution)
                ys = np.linspace(box[1, 0], box[1, 1], resolution)
                xx, yy = np.meshgrid(xs, ys)
                z = _predict(cfg, params, np.column_stack([xx.ravel(), yy.ravel()]))
                p = _sigmoid(z).reshape(xx.shape)
                # 20 probability bands: reads like contour levels, and compresses well
                cmap = mpl.colormaps["RdBu_r"].resampled(20)
                maps.append(ax)
                cf = ax.imshow(p, extent=(*box[0], *box[1]), origin="lower", cmap=cmap,
                               vmin=0, vmax=1, alpha=0.65, zorder=1,
                               interpolation="nearest")  # fmt: skip
                if np.nanmin(p) < 0.5 < np.nanmax(p):
                    ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.3, zorder=2)
                for c in (0, 1):
                    sel = k[ytr[k] == c]
                    ax.scatter(Xtr[sel, 0], Xtr[sel, 1], s=9, marker=CLASS_MARKERS[c],
                               c=CLASS_COLORS[c], edgecolors="white", linewidths=0.4,
                               zorder=3)  # fmt: skip
                ax.set_xlim(box[0])
                ax.set_ylim(box[1])
                ax.set_aspect("equal", adjustable="box")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.tick_params(length=0)
            else:
                xs = np.linspace(box[0, 0], box[0, 1], resolution * 2)
                z = _predict(cfg, params, xs[:, None])
                classify = cfg.task == "classification"
                yv = _sigmoid(z) if classify else z
                ax.scatter(Xtr[k, 0], ytr[k], s=6, color="0.5", alpha=0.6, zorder=2)
                ax.plot(xs, yv, color=pal[d], lw=2, zorder=3)
                ax.set_xlabel("x")
                what = "p(class 1)" if classify else "prediction"
                ax.set_ylabel(f"{label}\n{what}" if j == 0 and label else what)
    if cf is not None:
        cb = fig.colorbar(cf, ax=maps, shrink=0.85 if len(maps) > 2 else 1.0, pad=0.01,
                          aspect=25 if len(maps) > 2 else 15)  # fmt: skip
        cb.set_label("p(class 1)")
        cb.set_ticks([0, 0.25, 0.5, 0.75, 1])
        handles = [Line2D([], [], ls="none", marker=CLASS_MARKERS[c], color=CLASS_COLORS[c],
                          mec="white", ms=6) for c in (0, 1)]  # fmt: skip
        handles.append(Line2D([], [], color="k", lw=1.3))
        fig.legend(handles, ["class 0 (training points)", "class 1",
                             "decision boundary (p = 0.5)"],
                   loc="outside lower center", ncols=3)  # fmt: skip
    return fig
