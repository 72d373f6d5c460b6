"""Analysis of networks as functions: linear regions and parameter budgets.

- :mod:`~fastdepth.analysis.network`: :class:`Network`, what the analyses take (from
  packed parameters + layout, a RunConfig and parameters, a RunResult or a store run).
- :mod:`~fastdepth.analysis.regions`: linear regions of piecewise-linear networks, exact
  along a segment (:func:`segment_regions`) and estimated on a 2-D grid
  (:func:`grid_regions`).
- :mod:`~fastdepth.analysis.counts`: the per-run counts of ``RunConfig(count_regions=...)``
  (``regions_init`` / ``regions_final``), made by the engine after training.
- :mod:`~fastdepth.analysis.budget`: parameter counts and equal-budget architectures.
- :mod:`~fastdepth.analysis.figures`: the region-map figure.

Mean-field theory (depth scales, the edge of chaos) is in :mod:`fastdepth.theory`.
"""

from __future__ import annotations

from .budget import depth_for, n_params, width_for
from .network import BREAKPOINTS, Network, activation_cuts, as_network
from .regions import GridRegions, SegmentRegions, grid_regions, segment_regions

__all__ = [
    "BREAKPOINTS",
    "GridRegions",
    "Network",
    "SegmentRegions",
    "activation_cuts",
    "as_network",
    "depth_for",
    "grid_regions",
    "n_params",
    "segment_regions",
    "width_for",
]
