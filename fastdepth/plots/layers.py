"""Per-layer figures: gradient norms from the output back to the input, and dead units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..metrics import wilson_interval
from .grid import step_label
from .layout import (
    add_note,
    depth_axis,
    depth_legend,
    depth_x,
    diverged_note,
    empty_panel,
    label_step,
    new_figure,
    panel_title,
    setup,
    styled,
    xpos,
)
from .select import conditions, iqr, not_diverged


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
    return iqr(m, axis=0)


def _layers_at(layers: pd.DataFrame, ids: Sequence[str], which: str) -> pd.DataFrame:
    """``run x layer`` gradient norms at the first step or the last finite logged step."""
    sub = layers[layers["run_id"].isin(ids) & np.isfinite(layers["grad_norm"])]
    if which == "init":
        step = sub.groupby("run_id")["step"].transform("min")
    else:
        step = sub.groupby("run_id")["step"].transform("max")
    at = sub[sub["step"] == step]
    return at.pivot_table(index="run_id", columns="layer", values="grad_norm", aggfunc="first")


@styled
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
    info, pal = setup(runs, palette)
    conds = conditions(runs, info)
    end_label = "at the end of training" if layers is not None else "mean over training"
    fig, axes = new_figure(2, len(conds), "Per-layer gradient norm: output → input", info,
                           name="layer_grad_profile", sharey=True, sharex=True)  # fmt: skip
    single = info.seeds[1] == 1
    if single:
        add_note(fig, "single seed: no IQR bars")
    if layers is None:
        add_note(fig, "no layers table: bottom row = mean over training, not the end")
    for j, (label, g) in enumerate(conds):
        for i, which in enumerate(("init", "end")):
            ax = axes[i, j]
            drawn = 0
            for d in info.depths:
                gd = g[g["depth"] == d]
                src = gd if which == "init" else not_diverged(gd)
                if which == "end":
                    diverged_note(
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
                        q = iqr(m.to_numpy(np.float64), axis=0)
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
                empty_panel(ax, "nothing to draw\n(all runs diverged)")
                continue
            ax.set_yscale("log")
            if i == 1:
                ax.set_xlabel("layer, counted from the output (0 = output)")
            ax.set_ylabel("‖∂L/∂W‖ of the layer\n" + ("at init" if which == "init" else end_label))
            ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
            ax.set_xlim(-0.4, max(info.depths) + 0.4)
            if i == 0:
                panel_title(ax, label, g, info)
    depth_legend(fig, pal, info)
    return fig


@styled
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
    and nothing trains), with its Wilson 95% interval and the count on each bar. With
    ``layers``, a 4th row shows the dead fraction of all hidden units during training (mean
    over seeds).

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
    info, pal = setup(runs, palette)
    conds = conditions(runs, info)
    nrows = 4 if layers is not None else 3
    ratios = [1.0] * (nrows - 1) + [0.7]
    fig, axes = new_figure(nrows, len(conds), "Dead hidden units by depth", info,
                           name="dead_units", height_ratios=ratios)  # fmt: skip
    top = 0.0  # the fraction rows share one y range, fitted to the data
    fraction_axes: list[Axes] = []
    for j, (label, g) in enumerate(conds):
        for i, (col, when) in enumerate((("layer_dead_init", "at init"),
                                        ("layer_dead_end", "at the end"))):  # fmt: skip
            ax = axes[i, j]
            if i == 0:
                panel_title(ax, label, g, info)
            drawn = 0
            for d in info.depths:
                gd = g[g["depth"] == d]
                src = gd if i == 0 else not_diverged(gd)
                if i == 1:
                    diverged_note(
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
                empty_panel(ax, "no hidden layers" if max(info.depths) == 0 else
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
                ok = not_diverged(g[g["depth"] == d])
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
                ax.set_xlabel(step_label(info))
                ax.set_ylabel("dead fraction, all\nhidden layers (mean)")
            else:
                empty_panel(ax, "nothing to draw")
        ax = axes[-1, j]
        unit, logx = depth_x(info.depths)
        counts = {d: (int(gd["born_dead"].astype(bool).sum()), len(gd))
                  for d, gd in g.groupby("depth") if len(gd)}  # fmt: skip
        # the counts side by side if they fit, else upright
        upright = label_step(ax, [f"{k}/{n}" for k, n in counts.values()], 7) > 1
        for d, (k, n) in sorted(counts.items()):
            share, lo, hi = wilson_interval(k, n)
            x = xpos(d, 0, unit, logx)
            ax.bar(x, share, width=x * 0.25 if logx else 0.6 * unit, color=pal[d])
            ax.errorbar([x], [share], yerr=[[share - lo], [hi - share]], color="0.25", lw=0,
                        elinewidth=1, capsize=2, zorder=4)  # fmt: skip
            ax.text(x, hi + 0.03, f"{k}/{n}", ha="center", va="bottom", fontsize=7,
                    rotation=90 if upright else 0)  # fmt: skip
        ax.set_ylim(0, 1.5 if upright else 1.2)
        ax.set_yticks([0, 0.5, 1])
        ax.set_ylabel("share of runs\nborn dead")  # bars: Wilson 95% interval
        depth_axis(ax, info.depths, logx)
    top = min(1.0, max(0.1, 1.15 * top))
    for ax in fraction_axes:
        ax.set_ylim(-0.03 * top, top)
    depth_legend(fig, pal, info)
    return fig
