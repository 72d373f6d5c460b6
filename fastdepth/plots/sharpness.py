"""Curvature figures: the sharpness over training, and stable rates against ``2 / lambda_0``.

The sharpness ``lambda`` is the top eigenvalue of the Hessian of the mean training loss on
the whole training set (``RunConfig.sharpness_every``, ``docs/curvature.md``). Gradient
descent at rate ``eta`` on a quadratic with curvature ``lambda`` is stable only while
``lambda < 2 / eta``: the classical stability limit, which Cohen et al. (2021) found
full-batch training to reach and hover at (the *edge of stability*).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from .. import metrics
from .grid import CannotDraw, GridInfo, fmt_num, step_label
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
from .lr import no_lr_grid
from .select import (
    auto_log,
    collapsed,
    conditions,
    iqr,
    not_diverged,
    quantiles,
    step_matrix,
    thin,
)

__all__ = ["max_stable_lr", "no_sharpness", "no_stable_grid", "sharpness_curves",
           "stable_lr_vs_sharpness",
           "stability_limit"]  # fmt: skip

_GD = metrics.GD_OPTIMIZERS


def _log_y(ax) -> None:
    """A log y axis ticked at 1-2-5 numbers, labelled plainly (0.2, 1, 5 rather than
    ``2 x 10^-1``); call it once the data are drawn (the ticks follow the data's range)."""
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        return
    decades = range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
    for mant in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0**e for e in decades for m in mant if lo <= m * 10.0**e <= hi]
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:  # less than a factor of ~1.3: linear steps read best
        ticks = [t for t in MaxNLocator(4).tick_values(lo, hi) if lo <= t <= hi]
    ax.set_yticks(ticks)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_num(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(lo, hi)


def no_sharpness(runs: pd.DataFrame, info: GridInfo | None = None) -> str | None:
    """The registry's ``applies`` check: why these runs hold no sharpness curves."""
    if "sharpness_max" not in runs.columns or not runs["sharpness_max"].notna().any():
        return ("no sharpness measured (sweep with --sharpness-every K; stores before "
                "schema 4 have none)")  # fmt: skip
    return None


def stability_limit(runs: pd.DataFrame) -> pd.Series:
    """``2 / eta`` per run (``(2 + 2 beta) / eta`` with momentum), ``eta = lr_effective``;
    NaN for Adam and where no effective rate is known."""
    rate = runs["lr_effective"].fillna(runs["lr"]) if "lr_effective" in runs else runs["lr"]
    lim = metrics.stability_limit(rate, runs["optimizer"], runs["momentum"])
    return pd.Series(lim, index=runs.index)


@styled
def sharpness_curves(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    *,
    palette: Mapping[int, Any] | None = None,
    logy: bool | str = "auto",
    max_points: int = 600,
) -> Figure:
    """The sharpness over training per depth, with each depth's stability limit ``2 / lr``.

    Median over the seeds that did not diverge, band = inter-quartile range; dashed, in
    the depth's colour: the median ``2 / lr`` of its runs (``(2 + 2 beta) / lr`` with
    momentum; the effective rate of ``lr_rule = 'sharpness'``; none for Adam). A curve that
    rises to its line and stays there is at the edge of stability. One panel per condition.

    Parameters
    ----------
    runs, curves, palette
        As in :func:`fastdepth.plots.loss_curves`; the runs need ``sharpness_every > 0``.
    logy : bool or 'auto'
        Log y axis; 'auto' when curves and lines span more than a factor of 5.
    max_points : int
        At most this many points per line.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CannotDraw
        No run measured the sharpness, or every run diverged.
    """
    reason = no_sharpness(runs)
    if reason:
        raise CannotDraw(reason)
    info, pal = setup(runs, palette)
    conds = conditions(runs, info)
    single = info.seeds[1] == 1
    title = "Sharpness during training by depth" + ("" if single else " (median over seeds)")
    fig, axes = new_figure(1, len(conds), title, info, name="sharpness_curves", sharey="row")
    if single:
        add_note(fig, "single seed: curves of that run, no median or IQR band")
    band = 0.18 * min(1.0, (3 / len(info.depths)) ** 0.5)
    drawn, lines = [], []
    panels = []
    for label, g in conds:
        series = []
        for d in info.depths:
            gd = g[(g["depth"] == d) & g["sharpness_max"].notna()]
            ok = not_diverged(gd)
            diverged_note(fig, label, d, len(gd) - len(ok), len(gd))
            m = step_matrix(curves, ok["run_id"].tolist(), "sharpness") if len(ok) else None
            if m is None or m.shape[0] == 0:
                continue
            limit = float(np.nanmedian(stability_limit(ok))) if ok["optimizer"].isin(_GD).any() \
                else np.nan  # fmt: skip
            series.append((d, limit, *quantiles(m)))
            drawn.append(series[-1][3])
            lines.append(np.array([limit]))
        panels.append((label, g, series))
    if not drawn:
        raise CannotDraw("every run with sharpness diverged: no curves to draw")
    use_log = auto_log(drawn + lines) if logy == "auto" else bool(logy)
    for j, (label, g, series) in enumerate(panels):
        ax = axes[0, j]
        if not series:
            empty_panel(ax, "no finite curve\n(all runs diverged)")
            continue
        for d, limit, x, med, lo, hi in series:
            k = thin(x, max_points)
            ax.plot(x[k], med[k], color=pal[d], zorder=3)
            if not single:
                ax.fill_between(x[k], lo[k], hi[k], color=pal[d], alpha=band, lw=0, zorder=2)
            if np.isfinite(limit):
                ax.axhline(limit, color=pal[d], ls="--", lw=1.1, zorder=1)
        if j == 0:
            ax.set_ylabel("sharpness λ\n(top Hessian eigenvalue)")
        ax.set_xlabel(step_label(info))
        ax.margins(x=0.01)
        panel_title(ax, label, g, info)
    if use_log:  # once every panel is drawn: the panels share the y range
        for ax in axes[0]:
            _log_y(ax)
    extra = [(Line2D([], [], color="0.4", ls="--", lw=1.1), "2 / lr (stability limit)")]
    if not single:
        extra.append((Patch(color="0.6", alpha=0.4), "IQR over seeds"))
    depth_legend(fig, pal, info, extra)
    return fig


def max_stable_lr(runs: pd.DataFrame) -> pd.DataFrame:
    """Per condition (without lr) and depth: the largest stable and the smallest failing rate.

    As experiment 01 defines them: a rate *fails* when some seed diverged or collapsed to a
    constant output there; the largest stable rate is the largest rate of the grid below the
    smallest failing one (NaN when the smallest rate fails already; the grid's largest when
    none fails). Also the median and IQR over seeds of ``2 / lambda_0`` (a seed's
    ``lambda_0`` is the same at every rate: the weights do not depend on it).

    Returns
    -------
    pandas.DataFrame
        Condition columns, ``depth``, ``max_stable_lr``, ``min_failing_lr``,
        ``limit_median``, ``limit_lo``, ``limit_hi`` (of ``2 / lambda_0``, with momentum
        ``(2 + 2 beta) / lambda_0``).
    """
    from .grid import grid_info

    info = grid_info(runs)
    keys = [k for k in info.conditions if k != "lr"] + ["depth"]
    failed = (runs["status"] != "ok") | collapsed(runs)
    beta = np.where(runs["optimizer"] == "momentum", runs["momentum"], 0.0)
    frame = runs.assign(_failed=failed, _limit=(2.0 + 2.0 * beta) / runs["sharpness_init"])
    rows = []
    for key, g in frame.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        by_lr = g.groupby("lr")["_failed"].any().sort_index()
        fails = by_lr[by_lr].index
        first = float(fails.min()) if len(fails) else np.nan
        below = by_lr.index[by_lr.index < first] if len(fails) else by_lr.index
        per_seed = g.drop_duplicates("seed")["_limit"].to_numpy(np.float64)
        med, lo, hi = iqr(np.where(np.isfinite(per_seed), per_seed, np.nan), axis=0)
        rows.append({**dict(zip(keys, key, strict=True)),
                     "max_stable_lr": float(below.max()) if len(below) else np.nan,
                     "min_failing_lr": first, "limit_median": float(med),
                     "limit_lo": float(lo), "limit_hi": float(hi)})  # fmt: skip
    return pd.DataFrame(rows)


def no_stable_grid(runs: pd.DataFrame, info: GridInfo) -> str | None:
    """The registry's ``applies`` check of :func:`stable_lr_vs_sharpness`."""
    if "sharpness_init" not in runs.columns or not runs["sharpness_init"].notna().any():
        return ("no initial sharpness measured (sweep with --sharpness-every K or --lr-rule "
                "sharpness; stores before schema 4 have none)")  # fmt: skip
    if "lr_rule" in runs.columns and (runs["lr_rule"] == "sharpness").all():
        return "lr_rule sharpness: the grid's lr is a multiple of 1 / lambda_0, not a rate"
    if not runs["optimizer"].isin(_GD).any():
        return "Adam has no stability limit 2 / lr to compare with"
    return no_lr_grid(runs, info)


@styled
def stable_lr_vs_sharpness(
    runs: pd.DataFrame, *, palette: Mapping[int, Any] | None = None
) -> Figure:
    """The largest stable rate of each depth against ``2 / lambda_0`` (log rate axis).

    Filled circles: the largest rate of the grid at which no seed diverged or collapsed,
    with every smaller rate stable too (:func:`max_stable_lr`); crosses: the smallest rate
    at which one did. Open diamonds: the median over seeds of ``2 / lambda_0`` (the
    quadratic model's stability limit at initialisation), bars = IQR. If the initial
    curvature set the stable range, the circles would sit just below the diamonds.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table of a fixed-rate (``lr_rule = 'fixed'``) SGD or momentum grid over
        several learning rates, with ``sharpness_init`` (a sharpness measurement at step 0).
    palette : mapping depth -> colour, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CannotDraw
        No initial sharpness, a single rate, Adam, or ``lr_rule = 'sharpness'`` only.
    """
    info, pal = setup(runs, palette)
    reason = no_stable_grid(runs, info)
    if reason:
        raise CannotDraw(reason)
    fixed = runs["lr_rule"] != "sharpness" if "lr_rule" in runs else True
    runs = runs[runs["optimizer"].isin(_GD) & fixed]
    table = max_stable_lr(runs)
    keys = [k for k in info.conditions if k != "lr"]
    info_nolr = dataclasses.replace(info, conditions=keys,
                                    linked=[c for c in info.linked if c != "lr"])  # fmt: skip
    conds = conditions(runs, info_nolr)
    fig, axes = new_figure(1, len(conds), "Largest stable learning rate and 2 / λ₀ by depth",
                           info_nolr, name="stable_lr_vs_sharpness", sharey="row")  # fmt: skip
    unit, logx = depth_x(info.depths)
    for j, (label, g) in enumerate(conds):
        ax = axes[0, j]
        sel = table.merge(g[keys].drop_duplicates(), on=keys) if keys else table
        for _, r in sel.iterrows():
            d = int(r["depth"])
            x0, x1 = xpos(d, -0.12, unit, logx), xpos(d, 0.12, unit, logx)
            if np.isfinite(r["max_stable_lr"]):
                ax.plot([x0], [r["max_stable_lr"]], "o", color=pal[d], ms=7, zorder=4)
            if np.isfinite(r["min_failing_lr"]):
                ax.plot([x0], [r["min_failing_lr"]], "x", color=pal[d], ms=7, mew=1.6, zorder=4)
            if np.isfinite(r["limit_median"]):
                err = [[r["limit_median"] - r["limit_lo"]], [r["limit_hi"] - r["limit_median"]]]
                ax.errorbar([x1], [r["limit_median"]], yerr=err, color=pal[d], marker="D",
                            mfc="white", mew=1.4, ms=6, ls="none", zorder=4)  # fmt: skip
        for col, ls in (("max_stable_lr", "-"), ("limit_median", ":")):
            ok = sel[np.isfinite(sel[col])]
            if len(ok) > 1:
                xs = [xpos(int(d), -0.12 if ls == "-" else 0.12, unit, logx) for d in ok["depth"]]
                ax.plot(xs, ok[col], color="0.45", ls=ls, lw=1.0, zorder=3)
        if j == 0:
            ax.set_ylabel("learning rate")
        depth_axis(ax, info.depths, logx)
        panel_title(ax, label, g, info_nolr)
    for ax in axes[0]:  # once every panel is drawn: the panels share the y range
        _log_y(ax)
    grey = "0.35"
    extra = [(Line2D([], [], color=grey, marker="o", ls="-", lw=1.0), "largest stable lr"),
             (Line2D([], [], color=grey, marker="x", ls="none", mew=1.6), "smallest failing lr"),
             (Line2D([], [], color=grey, marker="D", mfc="white", ls=":", lw=1.0),
              "2 / λ₀ (median, IQR)")]  # fmt: skip
    depth_legend(fig, pal, info_nolr, extra)
    return fig
