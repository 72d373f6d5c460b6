"""What the weight snapshots show: each layer's dead / saturated units over training.

Runs trained with ``snapshot_every > 0`` keep all their weights every few steps
(:func:`fastdepth.load_snapshots`); :func:`unit_history` runs each snapshot on the training
inputs and counts, per hidden layer, the units in the activation's unit state (dead for the
ReLU family, saturated for tanh and sigmoid: :func:`fastdepth.model.unit_fractions`).
:func:`units_over_training` draws that for a representative run of every depth, the strip
:func:`fastdepth.plots.boundary_animation` shows beside the decision boundary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..config import RunConfig
from ..kernels.vocab import ACTIVATIONS, units_of
from ..model import unit_fractions
from ..result import Snapshots
from ..store import load, load_snapshots
from .boundaries import _config_of, representative_runs
from .grid import CannotDraw, GridInfo, fmt_value
from .layout import add_note, empty_panel, new_figure, setup, styled
from .select import conditions

__all__ = ["STRIP_CMAP", "draw_strip", "no_snapshots", "unit_history", "units_over_training"]

MAX_COLUMNS = 8  # depths side by side
PANEL = (2.6, 2.1)  # inches per depth
# Sequential, light (no unit in that state) to dark (every unit): reads in grey scale too.
STRIP_CMAP = "magma_r"


def unit_history(cfg: RunConfig, snaps: Snapshots, X: np.ndarray) -> np.ndarray | None:
    """Per snapshot and hidden layer, the share of units in the activation's unit state.

    Parameters
    ----------
    cfg : RunConfig
    snaps : Snapshots
    X : ndarray, shape (n, n_in)
        The inputs to measure on (the training set, as the telemetry does).

    Returns
    -------
    ndarray, float64, shape (len(snaps), depth), or None
        None for an activation without a unit state (identity, elu, gelu, silu). A snapshot
        with non-finite weights (a diverging run) gives a row of NaN.
    """
    if units_of(cfg.activation) == "none":
        return None
    out = np.full((len(snaps), cfg.depth), np.nan)
    for i in range(len(snaps)):
        p = snaps.params[i]
        if np.all(np.isfinite(p)):
            out[i] = unit_fractions(cfg, p, X)
    return out


def draw_strip(ax: Axes, steps: np.ndarray, frac: np.ndarray, upto: int | None = None):
    """``frac`` (n_snapshots, depth) as a layer x step heat map on ``ax``; the image.

    Cells after snapshot ``upto`` are left blank (for an animation that reveals it).
    """
    steps = np.asarray(steps, dtype=np.float64)
    if steps.size > 1:
        mid = (steps[1:] + steps[:-1]) / 2
        xe = np.concatenate([[steps[0]], mid, [steps[-1]]])
    else:
        xe = np.array([steps[0] - 0.5, steps[0] + 0.5])
    ye = np.arange(frac.shape[1] + 1) + 0.5
    data = np.ma.masked_invalid(frac.T.copy())
    if upto is not None:
        data[:, upto + 1 :] = np.ma.masked
    mesh = ax.pcolormesh(xe, ye, data, cmap=STRIP_CMAP, vmin=0, vmax=1, shading="flat")
    depth = frac.shape[1]
    ax.set_ylim(0.5, depth + 0.5)
    every = -(-depth // 6)  # at most 6 layer labels, always whole layers
    ax.set_yticks(range(1, depth + 1, every))
    ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.grid(False)
    return mesh


def no_snapshots(runs: pd.DataFrame, info: GridInfo) -> str | None:
    """The registry's ``applies`` check: why these runs have no snapshots to draw."""
    if "snapshot_every" not in runs.columns or not (runs["snapshot_every"].fillna(0) > 0).any():
        return (
            "no weight snapshots (sweep with --snapshot-every K to watch the units over training)"
        )
    measured = runs["activation"].map(lambda a: a in ACTIVATIONS and units_of(a) != "none")
    if not measured.any():
        have = ", ".join(dict.fromkeys(runs["activation"].tolist()))
        return f"{have} units have no dead or saturated state to follow"
    return None


@styled
def units_over_training(
    store: str | Path | pd.DataFrame,
    runs: pd.DataFrame | None = None,
    *,
    palette: Mapping[int, Any] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Each hidden layer's dead (ReLU family) or saturated (tanh, sigmoid) units over training.

    One panel per depth (and condition): the representative seed's run (median test
    accuracy, :func:`~fastdepth.plots.representative_runs`, among runs with snapshots),
    its weight snapshots measured on the training inputs. x = training step, y = hidden
    layer (1 = next to the input), colour = share of the layer's units that are dead /
    saturated (light = none, dark = all). A layer that dies shows as a row turning dark.

    Parameters
    ----------
    store : path or pandas.DataFrame
        The store directory, or a runs table (then ``path`` names the store).
    runs : pandas.DataFrame, optional
        The runs to choose from (default: all runs of the store).
    palette : mapping depth -> colour, optional
        Colours of the panel frames.
    path : path, optional
        The store directory, when ``store`` is a runs table.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CannotDraw
        When no run has snapshots, or none has a unit state to follow.
    """
    if isinstance(store, pd.DataFrame):
        if path is None:
            raise TypeError("units_over_training(runs_table, ...) needs path=<store directory>")
        runs = store if runs is None else runs
    else:
        path = store
        runs = load(path, timing=False) if runs is None else runs
    why = no_snapshots(runs, None)  # type: ignore[arg-type]
    if why is not None:
        raise CannotDraw(why)
    runs = runs[runs["snapshot_every"] > 0]
    info, pal = setup(runs, palette)
    reps = representative_runs(runs)
    if len(reps) == 0:
        raise CannotDraw("every run diverged: no training to follow")
    conds = conditions(runs, info)
    depths = info.depths
    per_cond = math.ceil(len(depths) / MAX_COLUMNS)
    ncols = math.ceil(len(depths) / per_cond)
    states = sorted({units_of(a) for a in runs["activation"]} - {"none"})
    title = f"{' and '.join(states).capitalize() or 'Dead or saturated'} units over training"
    fig, axes = new_figure(len(conds) * per_cond, ncols, title, info,
                           extra="; the seed with the median test accuracy is shown",
                           panel=PANEL, name="units_over_training")  # fmt: skip
    for i in range(len(conds)):
        for j in range(len(depths), per_cond * ncols):
            axes[i * per_cond + j // ncols, j % ncols].remove()
    mesh = None
    for i, (label, g) in enumerate(conds):
        for j, d in enumerate(depths):
            ax = axes[i * per_cond + j // ncols, j % ncols]
            rep = reps[reps["run_id"].isin(g["run_id"]) & (reps["depth"] == d)]
            if len(rep) == 0:
                ax.set_title(f"depth {d}", fontsize=9)
                empty_panel(ax, "all runs diverged" if (g["depth"] == d).any() else "no runs")
                continue
            row = rep.iloc[0]
            cfg = _config_of(row)
            state = units_of(cfg.activation)
            sub = [f"seed {int(row['seed'])}", *(fmt_value(k, row[k]) for k in info.linked)]
            ax.set_title(" · ".join([f"depth {d}", *sub]), fontsize=8.5)
            if state == "none":
                empty_panel(ax, f"{cfg.activation}: no dead or\nsaturated state")
                continue
            snaps = load_snapshots(path, row["run_id"])
            frac = unit_history(cfg, snaps, cfg.data()[0])
            mesh = draw_strip(ax, snaps.steps, frac)
            for s in ax.spines.values():
                s.set_visible(True)
                s.set_edgecolor(pal[d])
                s.set_linewidth(2)
            ax.set_xlabel("step")
            if j % ncols == 0:
                what = f"{label} ({state})" if label and len(states) > 1 else label
                ax.set_ylabel(f"{what}\nhidden layer" if what else "hidden layer")
            if row["status"] == "diverged":
                add_note(fig, f"{label + ', ' if label else ''}depth {d}: the run shown diverged")
    if mesh is None:
        raise CannotDraw("no run shown has a unit state to follow")
    cb = fig.colorbar(mesh, ax=[a for a in fig.axes if a.get_visible()], shrink=0.9, pad=0.02,
                      aspect=25)  # fmt: skip
    cb.set_label(f"share of units {' / '.join(states)}")
    return fig
