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

- one colour per depth (:func:`depth_palette`: shallow = dark, deep = light, so the order
  survives grey scale and colour-blind readers, with the hue turning so that up to
  :data:`MAX_DEPTHS` depths are each told apart; more are drawn in groups), the same in every
  figure drawn from the same runs table, or pass ``palette=`` to fix it; a value chosen per
  depth (the best lr of each depth) is named in the depth's legend entry;
- panels: one column per *condition*, i.e. per combination of the grid fields other than
  depth and seed that vary in ``runs`` (usually just the dataset; see :func:`grid_info`);
- the title says what the figure shows, what varied and what was held fixed (columns of the
  runs table with a single value), and over how many seeds; numbers read with three
  significant digits (``0.00316``);
- the layout is measured, not guessed (:mod:`~fastdepth.plots.layout`): no title or legend
  is cut off or covers another, whatever the shape of the study;
- intervals: 95% over seeds; Student t for means, a bootstrap for means of shares (kept
  within [0, 1]) and on log axes (kept above 0), Wilson for shares of runs;
- diverged runs (``status == 'diverged'``) are left out of curves and of the across-seed
  statistics, and the figure says how many there were; collapsed runs (a constant output)
  count as failed where learning rates are compared (:func:`best_lr`, :func:`lr_heatmaps`);
- a figure that cannot be drawn raises :class:`CannotDraw` (a ``ValueError``) saying why;
  caveats of a figure that was drawn (no CI with one seed, a depth whose runs all diverged)
  are listed by :func:`figure_notes`.

Every figure of the report is listed in :data:`FIGURES` (name, title, caption, the
function that draws it and the inputs it needs); :mod:`fastdepth.report` draws them all.

Modules: :mod:`~fastdepth.plots.grid` (what a grid varied, how values read),
:mod:`~fastdepth.plots.style` (style, sizes, depth palette),
:mod:`~fastdepth.plots.layout` (title block, panels, legend, notes),
:mod:`~fastdepth.plots.select` (runs per panel, statistics over seeds),
:mod:`~fastdepth.plots.curves`, :mod:`~fastdepth.plots.layers`,
:mod:`~fastdepth.plots.vs_depth`, :mod:`~fastdepth.plots.lr`,
:mod:`~fastdepth.plots.boundaries`, :mod:`~fastdepth.plots.snapshots`,
:mod:`~fastdepth.plots.sharpness` (the figures),
:mod:`~fastdepth.plots.animate` (one run's training as a GIF / MP4:
:func:`boundary_animation`), :mod:`~fastdepth.plots.registry`.
"""

from __future__ import annotations

from .animate import (
    ANIMATION_CAPTION,
    AnimationError,
    animation_markdown,
    animation_target,
    boundary_animation,
    save_animation,
)
from .boundaries import decision_boundaries, representative_runs
from .curves import grad_norm_curves, loss_curves
from .grid import (
    CannotDraw,
    GridInfo,
    fixed_text,
    fmt_value,
    grid_info,
    varied_text,
)
from .layers import dead_units, layer_grad_profile, saturated_units
from .layout import figure_notes
from .lr import best_lr, lr_heatmaps, select_best_lr
from .registry import FIGURES, FigureSpec
from .sharpness import max_stable_lr, sharpness_curves, stable_lr_vs_sharpness
from .snapshots import unit_history, units_over_training
from .style import MAX_DEPTHS, STYLE, depth_groups, depth_palette
from .vs_depth import (
    accuracy_vs_depth,
    gradstats_vs_depth,
    oscillation_vs_depth,
    regions_vs_depth,
)

__all__ = [
    "ANIMATION_CAPTION",
    "AnimationError",
    "FIGURES",
    "MAX_DEPTHS",
    "STYLE",
    "CannotDraw",
    "FigureSpec",
    "GridInfo",
    "accuracy_vs_depth",
    "animation_markdown",
    "animation_target",
    "best_lr",
    "boundary_animation",
    "dead_units",
    "decision_boundaries",
    "depth_groups",
    "depth_palette",
    "figure_notes",
    "fixed_text",
    "fmt_value",
    "grad_norm_curves",
    "gradstats_vs_depth",
    "grid_info",
    "layer_grad_profile",
    "loss_curves",
    "lr_heatmaps",
    "max_stable_lr",
    "oscillation_vs_depth",
    "regions_vs_depth",
    "representative_runs",
    "save_animation",
    "saturated_units",
    "select_best_lr",
    "sharpness_curves",
    "stable_lr_vs_sharpness",
    "unit_history",
    "units_over_training",
    "varied_text",
]
