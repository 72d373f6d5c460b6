"""Decision boundaries: what the trained network of each depth computes on the input space."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import datasets
from ..config import RunConfig
from ..model import predict
from ..store import CONFIG_COLUMNS, load, load_params
from .grid import CannotDraw, fmt_value, grid_info, norm_value
from .layout import empty_panel, fit_lines, new_figure, setup, styled
from .select import conditions, not_diverged, thin
from .style import CLASS_COLORS, CLASS_MARKERS

MAX_COLUMNS = 8  # depths side by side
PANEL = (2.3, 2.55)  # inches per depth
TITLE_SIZE = 9.0


def representative_runs(runs: pd.DataFrame, metric: str = "final_test_acc") -> pd.DataFrame:
    """One run per condition and depth: the seed whose ``metric`` is closest to the median.

    Diverged runs are never chosen; ties go to the smallest seed. Conditions whose runs all
    diverged have no row.
    """
    info = grid_info(runs)
    keys = [*info.conditions, *info.linked, "depth"]
    ok = not_diverged(runs)
    if len(ok) == 0:
        return ok
    frame = ok.astype({k: object for k in keys})
    med = frame.groupby(keys, dropna=False)[metric].transform("median")
    dist = (frame[metric] - med).abs().fillna(np.inf)
    frame = frame.assign(_dist=dist).sort_values(["_dist", "seed"], kind="stable")
    pick = frame.groupby(keys, sort=False, dropna=False).head(1)
    return runs.loc[pick.index].sort_values("run_index", kind="stable")


def _config_of(row: pd.Series) -> RunConfig:
    """The :class:`RunConfig` of a runs-table row."""
    d: dict[str, Any] = {}
    for name in CONFIG_COLUMNS:
        if name not in row.index:
            continue
        v = norm_value(row[name])
        if name == "widths":
            v = tuple(int(w) for w in str(v).split(",")) if v else None
        elif name == "dataset_params":
            v = json.loads(v) if v else {}
        d[name] = v
    return RunConfig.from_dict(d)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@styled
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
    if isinstance(store, pd.DataFrame):
        if path is None:
            raise TypeError("decision_boundaries(runs_table, ...) needs path=<store directory>")
        runs = store if runs is None else runs
    else:
        path = store
        runs = load(path, timing=False) if runs is None else runs
    info, pal = setup(runs, palette)
    reps = representative_runs(runs)
    if len(reps) == 0:
        raise CannotDraw("every run diverged: no trained network to draw")
    conds = conditions(runs, info)
    depths = info.depths
    # at most MAX_COLUMNS depths side by side; more wrap onto further rows, evenly filled
    per_cond = math.ceil(len(depths) / MAX_COLUMNS)
    ncols = math.ceil(len(depths) / per_cond)
    fig, axes = new_figure(len(conds) * per_cond, ncols, "What each depth learned", info,
                           extra="; the seed with the median test accuracy is shown",
                           panel=PANEL, name="decision_boundaries")  # fmt: skip
    for i in range(len(conds)):  # the cells after the last depth of each condition
        for j in range(len(depths), per_cond * ncols):
            axes[i * per_cond + j // ncols, j % ncols].remove()
    cf = None
    maps: list[Axes] = []  # the 2-D panels, which the colour bar belongs to
    for i, (label, g) in enumerate(conds):
        for j, d in enumerate(depths):
            ax = axes[i * per_cond + j // ncols, j % ncols]
            rep = reps[reps["run_id"].isin(g["run_id"]) & (reps["depth"] == d)]
            head = f"depth {d}"
            if j % ncols == 0 and label:
                ax.set_ylabel(label, fontsize=10)
            if len(rep) == 0:
                n = int((g["depth"] == d).sum())
                ax.set_title(head, fontsize=9)
                empty_panel(ax, f"all {n} runs\ndiverged" if n else "no runs")
                continue
            row = rep.iloc[0]
            cfg = _config_of(row)
            if cfg.n_in > 2:
                raise CannotDraw(f"{cfg.dataset} has {cfg.n_in} inputs: no 2-D picture")
            params = load_params(path, row["run_id"])
            Xtr, ytr, _, _ = cfg.data()
            box = datasets.bounding_box(cfg.dataset, cfg.noise, **cfg.dataset_kwargs)
            k = thin(np.arange(len(Xtr)), max_points)
            acc = row["final_test_acc"]
            # the same lines in every panel: depth / seed and per-depth values / accuracy
            sub = [f"seed {int(row['seed'])}", *(fmt_value(lk, row[lk]) for lk in info.linked)]
            lines = [head, *fit_lines(sub, PANEL[0] - 0.15, TITLE_SIZE, sep=" · ")]
            if np.isfinite(acc):
                lines.append(f"test acc {acc:.3f}")
            ax.set_title("\n".join(lines), fontsize=TITLE_SIZE)
            ax.grid(False)
            for s in ax.spines.values():
                s.set_visible(True)
                s.set_edgecolor(pal[d])
                s.set_linewidth(2.5)
            if cfg.n_in == 2:
                xs = np.linspace(box[0, 0], box[0, 1], resolution)
                ys = np.linspace(box[1, 0], box[1, 1], resolution)
                xx, yy = np.meshgrid(xs, ys)
                grid = np.column_stack([xx.ravel(), yy.ravel()])
                z = predict(cfg, params, grid).astype(np.float64)
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
                z = predict(cfg, params, xs[:, None]).astype(np.float64)
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
