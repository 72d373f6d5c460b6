"""Run metrics against depth: accuracy, gradient-norm statistics, oscillation, linear regions.

Each figure is a column of panels per condition with depth on x: the mean over seeds with
its 95% confidence interval, and the single seeds as dots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator

from ..metrics import mean_ci
from .grid import CannotDraw, GridInfo
from .layout import (
    add_note,
    depth_axis,
    depth_legend,
    depth_x,
    diverged_note,
    empty_panel,
    new_figure,
    panel_title,
    setup,
    styled,
    xpos,
)
from .select import auto_log, bootstrap_ci, conditions, not_diverged
from .style import PANEL_H, PANEL_W

_SEED_JITTER = 0.07  # fraction of the smallest depth gap


class Row(NamedTuple):
    """One row of panels: the series drawn, the y label, the y scale, whether it is a share.

    ``series`` = ``[(column, marker, linestyle, offset), ...]``: a marker ending in ``f`` is
    filled; the first series gets the single-seed dots. ``logy``: True, False or 'auto'
    (when the values span more than a decade). ``share``: the values lie in [0, 1].
    """

    series: Sequence[tuple[str, str, str, float]]
    ylabel: str
    logy: bool | str = False
    share: bool = False


def _values(g: pd.DataFrame, d: int, col: str) -> np.ndarray:
    """Finite values of ``col`` over the runs of depth ``d`` that did not diverge."""
    v = not_diverged(g[g["depth"] == d])[col].to_numpy(np.float64)
    return v[np.isfinite(v)]


def _interval(v: np.ndarray, *, share: bool, log: bool) -> tuple[float, float, float] | None:
    """Mean and 95% CI ``(mean, low, high)`` over seeds; None with fewer than 2 values.

    Student t, except for shares (bootstrap, clipped to [0, 1]: a t interval of a share
    near 0 or 1 crosses the bound) and on a log axis (bootstrap, which stays positive for
    positive values, where a symmetric interval falls off the axis).
    """
    m, _, ci, n = mean_ci(v)
    if n < 2:
        return None
    if share or log:
        lo, hi = bootstrap_ci(v)
        return (m, max(lo, 0.0), min(hi, 1.0)) if share else (m, lo, hi)
    return m, m - ci, m + ci


def _metric_vs_depth(
    ax: Axes,
    g: pd.DataFrame,
    info: GridInfo,
    pal: Mapping[int, Any],
    row: Row,
    *,
    log: bool,
    seeds: bool,
) -> bool:
    """Mean and 95% CI over seeds of the row's metrics against depth; whether any was drawn."""
    unit, logx = depth_x(info.depths)
    rng = np.random.default_rng(0)  # deterministic jitter
    drawn = False
    for s, (col, marker, ls, off) in enumerate(row.series):
        xs, ms = [], []
        for d in info.depths:
            v = _values(g, d, col)
            if v.size == 0:
                continue
            ci = _interval(v, share=row.share, log=log)
            m = mean_ci(v)[0]
            x = xpos(d, off * 0.25, unit, logx)
            filled = marker.endswith("f")
            yerr = None if ci is None else [[m - ci[1]], [ci[2] - m]]
            ax.errorbar([x], [m], yerr=yerr, color=pal[d], marker=marker.rstrip("f"), ms=6,
                        mfc=pal[d] if filled else "white", mew=1.4, elinewidth=1.4, zorder=4,
                        ls="none")  # fmt: skip
            if seeds and s == 0 and v.size > 1:
                jit = rng.uniform(-1, 1, v.size) * _SEED_JITTER
                xj = [xpos(d, off * 0.25 + j, unit, logx) for j in jit]
                ax.scatter(xj, v, s=7, color=pal[d], alpha=0.5, lw=0, zorder=2)
            xs.append(x)
            ms.append(m)
            drawn = True
        if len(xs) > 1:
            ax.plot(xs, ms, color="0.45", ls=ls, lw=1.0, zorder=3)
    depth_axis(ax, info.depths, logx)
    return drawn


def _vs_depth_figure(
    runs: pd.DataFrame,
    rows: Sequence[Row],
    title: str,
    name: str,
    *,
    palette: Mapping[int, Any] | None,
    show_seeds: bool,
    legend_extra: Sequence[tuple[Any, str]] = (),
    decorate: Callable[[Axes, int], None] | None = None,
) -> Figure:
    info, pal = setup(runs, palette)
    if len(info.depths) < 2:
        raise CannotDraw(f"a single depth ({info.depths[0]}): no trend against depth to draw")
    conds = conditions(runs, info)
    fig, axes = new_figure(len(rows), len(conds), title, info, name=name, sharey="row",
                           panel=(PANEL_W, PANEL_H * 0.95))  # fmt: skip
    if info.seeds[0] < 2:
        add_note(fig, "single seed: points without confidence intervals")
    # one y scale per row (the row shares y), known before the intervals are chosen
    logs = []
    for row in rows:
        vals = [_values(g, d, c) for _, g in conds for d in info.depths for c, *_ in row.series]
        logs.append(auto_log(vals, 10) if row.logy == "auto" else bool(row.logy))
    drawn = np.zeros(axes.shape, dtype=bool)
    for j, (label, g) in enumerate(conds):
        for d in info.depths:
            gd = g[g["depth"] == d]
            diverged_note(fig, label, d, int((gd["status"] == "diverged").sum()), len(gd))
        for i, row in enumerate(rows):
            ax = axes[i, j]
            if logs[i]:
                ax.set_yscale("log")
                # Minor ticks at 2 and 5 only: on a panel spanning about a decade matplotlib
                # labels every minor tick, and 3 and 4 x 10^k then overlap.
                ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
            drawn[i, j] = _metric_vs_depth(ax, g, info, pal, row, log=logs[i], seeds=show_seeds)
            if i == 0:
                panel_title(ax, label, g, info)
            if not drawn[i, j]:
                empty_panel(ax, "no finite values\n(all runs diverged?)")
                continue
            ax.set_ylabel(row.ylabel)
            if decorate is not None:
                decorate(ax, i)
    if not drawn.any():
        cols = ", ".join(dict.fromkeys(c for row in rows for c, *_ in row.series))
        if (runs["status"] == "diverged").all():
            raise CannotDraw(f"every run diverged: no finite {cols}")
        if "loss" in runs.columns and (runs["loss"] == "mse").all():
            raise CannotDraw(f"no {cols}: a regression task (MSE loss) has no accuracy")
        raise CannotDraw(f"no finite {cols} in any run")
    extra = list(legend_extra)
    if show_seeds and info.seeds[1] > 1:
        extra.append((Line2D([], [], ls="none", marker="o", ms=3, color="0.5", alpha=0.6),
                     "single seeds"))  # fmt: skip
    depth_legend(fig, pal, info, extra)
    return fig


@styled
def accuracy_vs_depth(
    runs: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    show_seeds: bool = True,
) -> Figure:
    """Final train and test accuracy against depth: mean and 95% CI over seeds.

    Filled markers = test, open markers = train (95% CI of the mean over seeds: bootstrap,
    clipped to [0, 1]; diverged runs left out, as in the summary table); small dots = the
    test accuracy of single seeds, which shows bimodal outcomes (some seeds stuck at chance)
    that a mean hides. The dotted line is chance (0.5 for the balanced datasets).

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
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 0.45), min(max(hi, 0.6), 1.02))

    extra = [
        (Line2D([], [], color="0.3", marker="o", ls="-", lw=1), "test (mean ± 95% CI)"),
        (Line2D([], [], color="0.3", marker="o", mfc="white", ls="--", lw=1), "train"),
        (Line2D([], [], color="0.5", ls=":", lw=1), "chance (0.5)"),
    ]
    return _vs_depth_figure(runs, [Row(series, "final accuracy", share=True)],
                            "Final accuracy against depth", "accuracy_vs_depth",
                            palette=palette, show_seeds=show_seeds, legend_extra=extra,
                            decorate=chance)  # fmt: skip


@styled
def gradstats_vs_depth(
    runs: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    show_seeds: bool = True,
) -> Figure:
    """Gradient-norm statistics over training against depth: mean (top) and CV (bottom).

    Per run, the mean and the coefficient of variation (std / mean) of the total gradient
    norm over all logged steps; plotted as mean and 95% CI over seeds (bootstrap on a log
    axis, Student t otherwise), with single seeds as dots. A high CV means an erratic,
    spiky optimisation path.

    Parameters
    ----------
    runs, palette, show_seeds
        As in :func:`accuracy_vs_depth`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [
        Row([("grad_norm_mean", "of", "-", 0.0)], "mean ‖∇L‖ over training", "auto"),
        Row([("grad_norm_cv", "of", "-", 0.0)], "CV of ‖∇L‖ (std / mean)"),
    ]
    return _vs_depth_figure(runs, rows, "Gradient-norm mean and variability against depth",
                            "gradstats_vs_depth", palette=palette,
                            show_seeds=show_seeds)  # fmt: skip


@styled
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
    95% CI over seeds (bootstrap for the share, clipped to [0, 1], and on a log axis;
    Student t otherwise), single seeds as dots.

    Parameters
    ----------
    runs, palette, show_seeds
        As in :func:`accuracy_vs_depth`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [
        Row([("up_fraction", "of", "-", 0.0)], "share of steps where\nthe loss rose", share=True),
        Row([("tv_ratio", "of", "-", 0.0)], "total variation /\nnet loss decrease", "auto"),
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


def _region_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that counted their linear regions (``count_regions`` on)."""
    if "regions_init" not in runs.columns:
        return runs.iloc[:0]
    return runs[runs["regions_init"].notna()]


def no_regions(runs: pd.DataFrame, info: GridInfo) -> str | None:
    """The registry's ``applies`` check of :func:`regions_vs_depth`."""
    if len(_region_runs(runs)):
        return None
    return "no run counted its linear regions (sweep with --count-regions segment or grid)"


@styled
def regions_vs_depth(
    runs: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    show_seeds: bool = True,
) -> Figure:
    """Linear regions of the initial and the final network against depth.

    The ``regions_final`` (filled) and ``regions_init`` (open) columns of the runs that
    counted them (``RunConfig.count_regions``): exact along the data range or the diagonal
    of its box (``segment``), or estimated on a grid over the box (``grid``); mean and 95%
    CI over seeds (bootstrap on a log axis, Student t otherwise), single seeds (final) as
    dots. Diverged runs are left out, as everywhere.

    Parameters
    ----------
    runs, palette, show_seeds
        As in :func:`accuracy_vs_depth`.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CannotDraw
        When no run counted its regions, or with a single depth.
    """
    own = _region_runs(runs)
    if len(own) == 0:
        raise CannotDraw(no_regions(runs, None))  # type: ignore[arg-type]
    modes = set(own["count_regions"]) if "count_regions" in own.columns else set()
    ylabel = "linear regions"
    if modes == {"segment"}:
        ylabel = "linear regions along\nthe data range (exact)"
    elif modes == {"grid"}:
        res = set(own["regions_resolution"])
        grid = f"a {res.pop()}$^2$ grid" if len(res) == 1 else "a grid"
        ylabel = f"linear regions on {grid}\nover the data (estimate)"
    series = [("regions_final", "of", "-", 0.5), ("regions_init", "o", "--", -0.5)]
    extra = [
        (Line2D([], [], color="0.3", marker="o", ls="-", lw=1), "final (mean ± 95% CI)"),
        (Line2D([], [], color="0.3", marker="o", mfc="white", ls="--", lw=1), "initial"),
    ]
    return _vs_depth_figure(own, [Row(series, ylabel, "auto")],
                            "Linear regions against depth", "regions_vs_depth",
                            palette=palette, show_seeds=show_seeds,
                            legend_extra=extra)  # fmt: skip
