"""The figures of a report, in one table: :data:`FIGURES`.

The report (:mod:`fastdepth.report`), ``docs/make_report_figures.py`` and the tests read
this table, so adding a figure is: write its function, add one :class:`FigureSpec` here
(and a test).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from .boundaries import decision_boundaries
from .curves import grad_norm_curves, loss_curves
from .grid import GridInfo
from .layers import dead_units, layer_grad_profile, saturated_units, units_skip
from .lr import lr_heatmaps, no_lr_grid
from .sharpness import no_sharpness, no_stable_grid, sharpness_curves, stable_lr_vs_sharpness
from .snapshots import no_snapshots, units_over_training
from .vs_depth import (
    accuracy_vs_depth,
    gradstats_vs_depth,
    no_regions,
    oscillation_vs_depth,
    regions_vs_depth,
)

# What a builder may ask for besides the runs table (keyword arguments of the builder).
INPUTS = ("curves", "layers", "path", "palette")


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report.

    Attributes
    ----------
    name : str
        The figure's name: file names (``<name>__<grid>.png``), the figure's label.
    title : str
        Section title in ``report.md``.
    caption : str
        What the figure shows, under the title.
    build : callable
        ``build(runs, **inputs) -> Figure``; raises :class:`CannotDraw` when the runs
        cannot give this figure.
    needs : tuple of str
        The keyword inputs ``build`` takes besides the runs, of :data:`INPUTS`: the curves
        and layers tables of those runs, the store ``path``, the depth ``palette``.
    lr_grid : bool
        Drawn over every learning rate of the grid (True), or, when the grid has several,
        with each depth at its best rate (False, :func:`select_best_lr`).
    applies : callable, optional
        ``applies(runs, info) -> reason or None``: why the figure does not apply to a store
        at all (None: it does), checked before anything is drawn.
    by_colour : bool
        The figure tells depths apart by colour alone (curves, per-layer lines): with more
        than :data:`~fastdepth.plots.style.MAX_DEPTHS` depths the report draws it once per
        :func:`~fastdepth.plots.style.depth_groups` group.
    """

    name: str
    title: str
    caption: str
    build: Callable[..., Figure]
    needs: tuple[str, ...] = ()
    lr_grid: bool = False
    applies: Callable[[pd.DataFrame, GridInfo], str | None] | None = None
    by_colour: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.needs) - set(INPUTS))
        if unknown:
            raise ValueError(f"{self.name}: unknown inputs {unknown}; known: {', '.join(INPUTS)}")

    def draw(self, runs: pd.DataFrame, **inputs: Any) -> Figure:
        """Build the figure of ``runs``, passing it the ``inputs`` it needs (others ignored)."""
        missing = [k for k in self.needs if k not in inputs]
        if missing:
            raise TypeError(f"{self.name} needs {', '.join(missing)}")
        return self.build(runs, **{k: inputs[k] for k in self.needs})

    def skip_reason(self, runs: pd.DataFrame, info: GridInfo) -> str | None:
        """Why the figure does not apply to ``runs`` (None: it does)."""
        return self.applies(runs, info) if self.applies is not None else None


_SPECS = (
    FigureSpec(
        "loss_curves",
        "Loss curves",
        "Training loss (top, every logged step) and test loss (bottom, every evaluation) per "
        "depth: median over seeds, band = inter-quartile range. Diverged runs are left out.",
        loss_curves,
        needs=("curves", "palette"),
        by_colour=True,
    ),
    FigureSpec(
        "grad_norm_curves",
        "Gradient norm during training",
        "Norm of the whole gradient at every logged step per depth: median over seeds, band = "
        "inter-quartile range.",
        grad_norm_curves,
        needs=("curves", "palette"),
        by_colour=True,
    ),
    FigureSpec(
        "layer_grad_profile",
        "Per-layer gradient norms",
        "Gradient norm of each layer's weights, from the output layer (0) back to the first "
        "hidden layer, at initialisation (top) and at the last step (bottom); log scale, "
        "median over seeds, bars = inter-quartile range. A line falling to the right is a "
        "vanishing gradient, a rising one an exploding gradient.",
        layer_grad_profile,
        needs=("layers", "palette"),
        by_colour=True,
    ),
    FigureSpec(
        "accuracy_vs_depth",
        "Accuracy against depth",
        "Final test (filled) and train (open) accuracy: mean and 95% confidence interval over "
        "seeds (bootstrap, within [0, 1]); dots = single seeds (test).",
        accuracy_vs_depth,
        needs=("palette",),
    ),
    FigureSpec(
        "gradstats_vs_depth",
        "Gradient-norm statistics against depth",
        "Per run, the mean (top) and coefficient of variation (bottom) of the total gradient "
        "norm over training; mean and 95% CI over seeds (bootstrap on a log axis, Student t "
        "otherwise), dots = single seeds.",
        gradstats_vs_depth,
        needs=("palette",),
    ),
    FigureSpec(
        "oscillation_vs_depth",
        "Oscillation against depth",
        "Share of steps where the training loss rose (top) and total variation of the loss "
        "curve over its net decrease (bottom; 1 = monotone); mean and 95% CI over seeds "
        "(bootstrap for the share, within [0, 1], and on a log axis; Student t otherwise).",
        oscillation_vs_depth,
        needs=("palette",),
    ),
    FigureSpec(
        "regions_vs_depth",
        "Linear regions against depth",
        "Runs swept with --count-regions only. Linear regions of the final (filled) and the "
        "initial (open) network: exact along the data range (1-D) or the diagonal of its "
        "bounding box (2-D) with 'segment', estimated by the distinct activation patterns "
        "on a grid over the box with 'grid' (a lower bound); mean and 95% CI over seeds "
        "(bootstrap on a log axis, Student t otherwise), dots = single seeds (final). With "
        "zero initial biases (every init but playground and meanfield) the initial network "
        "is positively homogeneous: its regions are cones from the origin, 2 along a segment "
        "through it.",
        regions_vs_depth,
        needs=("palette",),
        applies=no_regions,
    ),
    FigureSpec(
        "dead_units",
        "Dead units (ReLU family)",
        "Runs of relu and leaky_relu only. Fraction of dead units (pre-activation <= 0 on every "
        "training input; for leaky_relu: a unit left on its alpha slope) per hidden layer at "
        "init and at the end, mean over seeds; the dead fraction of all hidden units during "
        "training; and the share of runs born dead (a whole hidden layer dead at init), with "
        "its Wilson 95% interval.",
        dead_units,
        needs=("layers", "palette"),
        applies=units_skip("dead"),
        by_colour=True,
    ),
    FigureSpec(
        "saturated_units",
        "Saturated units (tanh, sigmoid)",
        "Runs of tanh and sigmoid only. Fraction of saturated units (tanh |h| > 0.99, sigmoid "
        "|2h - 1| > 0.99 on every training input: the derivative is below 2% of its maximum "
        "on every input) per hidden layer at init and at the end, mean over seeds; the "
        "saturated fraction of all hidden units during training; and the share of runs born "
        "saturated (a whole hidden layer saturated at init), with its Wilson 95% interval.",
        saturated_units,
        needs=("layers", "palette"),
        applies=units_skip("saturated"),
        by_colour=True,
    ),
    FigureSpec(
        "lr_heatmaps",
        "Depth x learning rate",
        "Median final training loss, mean final test accuracy and share of seeds that diverged "
        "or collapsed (constant output; each cell counts both) for every depth and learning "
        "rate; the outlined cell is the best lr of each depth (fewest failed seeds, then the "
        "lowest median loss).",
        lr_heatmaps,
        lr_grid=True,
        applies=no_lr_grid,
    ),
    FigureSpec(
        "sharpness_curves",
        "Sharpness and the edge of stability",
        "The sharpness λ (top eigenvalue of the Hessian of the whole training set's loss, by "
        "Lanczos; --sharpness-every) over training per depth: median over seeds, band = "
        "inter-quartile range; dashed, in the depth's colour: its stability limit 2 / lr "
        "(with momentum (2 + 2β) / lr). A curve that climbs to its line and hovers there is at "
        "the edge of stability (Cohen et al. 2021).",
        sharpness_curves,
        needs=("curves", "palette"),
        applies=no_sharpness,
        by_colour=True,
    ),
    FigureSpec(
        "stable_lr_vs_sharpness",
        "Largest stable learning rate against 2 / λ₀",
        "Per depth, over the grid's learning rates: the largest rate at which no seed diverged "
        "or collapsed (every smaller rate stable too; circles) and the smallest at which one "
        "did (crosses), beside 2 / λ₀, the stability limit of the initial curvature (median "
        "over seeds, bars = IQR; diamonds).",
        stable_lr_vs_sharpness,
        needs=("palette",),
        lr_grid=True,
        applies=no_stable_grid,
    ),
    FigureSpec(
        "units_over_training",
        "Dead / saturated units over training",
        "From the weight snapshots (--snapshot-every) of the seed with the median test accuracy "
        "of each depth: per hidden layer (1 = next to the input), the share of its units that "
        "are dead (ReLU family) or saturated (tanh, sigmoid) on the training inputs, at every "
        "snapshot. A row turning dark is a layer dying. `python -m fastdepth.report RUN_DIR "
        "--animate RUN` writes one run's decision boundary over training as a GIF.",
        units_over_training,
        needs=("path", "palette"),
        applies=no_snapshots,
    ),
    FigureSpec(
        "decision_boundaries",
        "Decision boundaries",
        "The trained network of the seed with the median test accuracy of each depth, "
        "evaluated on a grid over the data's bounding box (colour = predicted probability of "
        "class 1, black line = decision boundary), training points on top.",
        decision_boundaries,
        needs=("path", "palette"),
    ),
)
# name -> spec, in the order of the report.
FIGURES: Mapping[str, FigureSpec] = MappingProxyType({s.name: s for s in _SPECS})
