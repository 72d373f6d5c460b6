"""Learning-rate figures: the best rate per depth, and depth x learning-rate heatmaps."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .grid import CannotDraw, GridInfo, distinct, fmt_num, grid_info, join_values, norm_value
from .layout import add_note, new_figure, styled, wrap_text
from .select import auto_log, collapsed, cond_values, conditions, not_diverged


def best_lr(runs: pd.DataFrame, metric: str = "final_train_loss") -> pd.DataFrame:
    """The best learning rate per condition and depth.

    Best = the fewest seeds failed (diverged, or collapsed to a constant output), then the
    lowest median ``metric`` over the seeds that did not fail; ties go to the smaller lr.

    Returns
    -------
    pandas.DataFrame
        The condition columns (:attr:`GridInfo.conditions` without ``lr``), ``depth``,
        ``lr``, ``median`` (of ``metric``), ``diverged`` and ``collapsed`` (shares of seeds).
    """
    info = grid_info(runs)
    keys = [k for k in info.conditions if k != "lr"] + ["depth"]
    div = (runs["status"] == "diverged").to_numpy()
    col = collapsed(runs).to_numpy()
    frame = runs.assign(_div=div.astype(float), _col=col.astype(float),
                        _m=np.where(div | col, np.nan, runs[metric]))  # fmt: skip
    agg = frame.groupby([*keys, "lr"], sort=False, dropna=False).agg(
        median=("_m", "median"), diverged=("_div", "mean"), collapsed=("_col", "mean")
    )
    agg = agg.reset_index()
    agg["_failed"] = agg["diverged"] + agg["collapsed"]
    agg["_med"] = agg["median"].fillna(np.inf)
    agg = agg.sort_values(["_failed", "_med", "lr"], kind="stable")
    best = agg.groupby(keys, sort=False, dropna=False).head(1)
    # back to grid order: conditions and depths as they first appear in the runs table
    order = runs[keys].astype(object).map(norm_value).drop_duplicates().reset_index(drop=True)
    rank = best[keys].astype(object).map(norm_value).merge(order.reset_index(), on=keys, how="left")
    best = best.iloc[np.argsort(rank["index"].to_numpy(), kind="stable")]
    return best[[*keys, "lr", "median", "diverged", "collapsed"]].reset_index(drop=True)


def select_best_lr(runs: pd.DataFrame, metric: str = "final_train_loss") -> pd.DataFrame:
    """The runs at the best learning rate of each condition and depth (:func:`best_lr`)."""
    b = best_lr(runs, metric)
    keys = [c for c in b.columns if c not in ("median", "diverged", "collapsed")]
    sel = runs.merge(b[keys], on=keys, how="inner")
    return runs[runs["run_id"].isin(sel["run_id"])]


def no_lr_grid(runs: pd.DataFrame, info: GridInfo) -> str | None:
    """Why ``runs`` hold no depth x learning-rate grid (None when they do).

    The grid needs the learning rate to vary as a condition of its own, not tied to depth.
    """
    if "lr" in info.conditions:
        return None
    if "lr" in info.linked:
        return "the learning rate is tied to the depth: no depth x lr grid"
    lrs = join_values(distinct(runs["lr"]), "-")
    return f"a single learning rate ({lrs}): no depth x lr heatmap"


def _failures(n_div: int, n_col: int) -> str:
    """Cell text of the failed-seeds panel: ``'0'``, ``'2 div'``, ``'1 div\n3 col'``."""
    parts = [f"{k} {what}" for k, what in ((n_div, "div"), (n_col, "col")) if k]
    return "\n".join(parts) or "0"


def _text_color(rgba: Sequence[float]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


@styled
def lr_heatmaps(
    runs: pd.DataFrame,
    *,
    metric: str = "final_train_loss",
    annotate: bool | str = "auto",
) -> Figure:
    """Depth x learning-rate heatmaps: final loss, test accuracy, share of failed seeds.

    One row per condition, three panels: the median final training loss over seeds
    (log colour scale; non-diverged seeds), the mean final test accuracy, and the share of
    seeds that failed: diverged, or collapsed to a constant output (each cell counts the
    seeds of each kind). Rows are depths, columns learning rates. The best lr of each depth
    (:func:`best_lr`) is outlined in every panel; cells where every seed diverged are grey
    and marked "div".

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
        raise CannotDraw(f"a single learning rate ({fmt_num(lrs[0]) if lrs else '-'}): no heatmap")
    info_nolr = dataclasses.replace(info, conditions=[c for c in info.conditions if c != "lr"],
                                    linked=[c for c in info.linked if c != "lr"])  # fmt: skip
    conds = conditions(runs, info_nolr)
    depths = info.depths
    n_lr = len(lrs)
    panel = (max(3.0, 0.42 * n_lr + 1.6), max(1.8, 0.36 * len(depths) + 1.1))
    extra = (f"; outlined: the best lr of each depth (fewest seeds diverged or collapsed, "
             f"then lowest median {metric})")  # fmt: skip
    fig, axes = new_figure(len(conds), 3, "Depth × learning rate", info, panel=panel,
                           name="lr_heatmaps", extra=extra)  # fmt: skip
    ann = (n_lr <= 12) if annotate == "auto" else bool(annotate)
    panels = [
        ("median final train loss", "viridis_r", "loss"),
        ("mean final test accuracy", "viridis", "acc"),
        ("share of seeds diverged or collapsed", "Greys", "fail"),
    ]
    best = best_lr(runs, metric)
    for i, (label, g) in enumerate(conds):
        # loss, acc: the panels; div, fail: shares of seeds; n_div, n_col: counts of seeds
        keys = ("loss", "acc", "div", "fail", "n_div", "n_col")
        mats = {k: np.full((len(depths), n_lr), np.nan) for k in keys}
        for (d, lr), c in g.groupby(["depth", "lr"]):
            r, col = depths.index(int(d)), lrs.index(float(lr))
            ok = not_diverged(c)
            div, coll = (c["status"] == "diverged").to_numpy(), collapsed(c).to_numpy()
            mats["div"][r, col] = float(div.mean())
            mats["fail"][r, col] = float((div | coll).mean())
            mats["n_div"][r, col], mats["n_col"][r, col] = div.sum(), coll.sum()
            loss = ok[metric].to_numpy(np.float64)
            loss = loss[np.isfinite(loss)]
            acc = ok["final_test_acc"].to_numpy(np.float64)
            acc = acc[np.isfinite(acc)]
            mats["loss"][r, col] = np.median(loss) if loss.size else np.nan
            mats["acc"][r, col] = acc.mean() if acc.size else np.nan
        bsub = best
        for k, v in zip(info_nolr.conditions, cond_values(g, info_nolr.conditions),
                        strict=True):  # fmt: skip
            bsub = bsub[bsub[k].map(norm_value) == v]
        for p, (title, cmap_name, key) in enumerate(panels):
            ax = axes[i, p]
            m = mats[key]
            cmap = mpl.colormaps[cmap_name].with_extremes(bad="0.85")
            finite = m[np.isfinite(m)]
            if key == "loss" and finite.size and finite.min() > 0 and auto_log([finite], 10):
                norm: mcolors.Normalize = mcolors.LogNorm(finite.min(), finite.max())
            elif key == "fail":
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
            ax.set_xticklabels([fmt_num(lr) for lr in lrs], rotation=45 if n_lr > 4 else 0,
                               ha="right" if n_lr > 4 else "center")  # fmt: skip
            ax.set_yticks(range(len(depths)))
            ax.set_yticklabels([str(d) for d in depths])
            ax.set_xlabel("learning rate")
            ax.set_ylabel("depth")
            ax.grid(False)
            for s in ax.spines.values():
                s.set_visible(False)
            head = f"{label}: {title}" if label and len(conds) > 1 else title
            ax.set_title("\n".join(wrap_text(head, panel[0] - 0.3, mpl.rcParams["axes.titlesize"])))
            for r in range(len(depths)):
                for col in range(n_lr):
                    v = m[r, col]
                    if key != "fail" and not np.isfinite(v) and mats["div"][r, col] == 1:
                        ax.text(col, r, "div", ha="center", va="center", fontsize=7,
                                color="0.3")  # fmt: skip
                    elif key == "fail" and ann and np.isfinite(v):
                        text = _failures(int(mats["n_div"][r, col]), int(mats["n_col"][r, col]))
                        ax.text(col, r, text,
                                ha="center", va="center", fontsize=7,
                                color=_text_color(cmap(norm(v))))  # fmt: skip
                    elif ann and np.isfinite(v):
                        txt = f"{v:.2f}" if key != "loss" else f"{v:.2g}"
                        ax.text(col, r, txt, ha="center", va="center", fontsize=7,
                                color=_text_color(cmap(norm(v))))  # fmt: skip
            for _, b in bsub.iterrows():
                r, col = depths.index(int(b["depth"])), lrs.index(float(b["lr"]))
                if p == 0 and col in (0, n_lr - 1):
                    edge = "largest" if col == n_lr - 1 else "smallest"
                    where = f"{label}, " if label else ""
                    add_note(
                        fig,
                        f"{where}depth {int(b['depth'])}: the best lr ({fmt_num(lrs[col])}) "
                        f"is the {edge} in the grid; the optimum may lie beyond it",
                    )
                for lw, c in ((3.2, "white"), (1.6, "black")):
                    ax.add_patch(Rectangle((col - 0.5, r - 0.5), 1, 1, fill=False, lw=lw,
                                           ec=c, zorder=5))  # fmt: skip
    return fig
