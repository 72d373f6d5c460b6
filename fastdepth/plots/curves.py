"""Curves over training, per depth: the loss and the gradient norm at every logged step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .grid import CannotDraw, step_label
from .layout import (
    add_note,
    depth_legend,
    diverged_note,
    empty_panel,
    new_figure,
    panel_title,
    setup,
    styled,
)
from .select import auto_log, conditions, not_diverged, quantiles, step_matrix, thin


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
    info, pal = setup(runs, palette)
    conds = conditions(runs, info)
    single = info.seeds[1] == 1
    title += "" if single else " (median over seeds)"
    fig, axes = new_figure(len(rows), len(conds), title, info, extra="", name=name,
                           sharex="col", sharey="col")  # fmt: skip
    if single:
        add_note(fig, "single seed: curves of that run, no median or IQR band")
    # fainter bands the more depths overlap, so that the medians stay readable
    band = 0.18 * min(1.0, (3 / len(info.depths)) ** 0.5)
    drawn = 0
    for j, (label, g) in enumerate(conds):
        series: dict[int, list[tuple[np.ndarray, ...]]] = {}
        for d in info.depths:
            gd = g[g["depth"] == d]
            ok = not_diverged(gd)
            diverged_note(fig, label, d, len(gd) - len(ok), len(gd))
            if len(ok) == 0:
                continue
            for i, (metric, _) in enumerate(rows):
                m = step_matrix(curves, ok["run_id"].tolist(), metric)
                if m.shape[0] == 0:
                    continue
                series.setdefault(i, []).append((d, *quantiles(m)))
        # one y scale per column (rows share it): train and test loss read on one axis
        medians = [s[2] for i in series for s in series[i]]
        use_log = auto_log(medians) if logy == "auto" else bool(logy)
        for i, (_, ylabel) in enumerate(rows):
            ax = axes[i, j]
            data = series.get(i, [])
            if not data:
                empty_panel(ax, "no finite curve\n(all runs diverged)")
                continue
            for d, x, med, lo, hi in data:
                k = thin(x, max_points)
                ax.plot(x[k], med[k], color=pal[d], label=f"depth {d}", zorder=3)
                if not single:
                    ax.fill_between(x[k], lo[k], hi[k], color=pal[d], alpha=band, lw=0,
                                    zorder=2)  # fmt: skip
                drawn += 1
            if use_log:
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            if i == len(rows) - 1:
                ax.set_xlabel(step_label(info))
            ax.margins(x=0.01)
            if i == 0:
                panel_title(ax, label, g, info)
    if drawn == 0:
        raise CannotDraw("every run diverged: no curves to draw")
    depth_legend(fig, pal, info, [(Patch(color="0.6", alpha=0.4), "IQR over seeds")]
                 if not single else ())  # fmt: skip
    return fig


@styled
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


@styled
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
