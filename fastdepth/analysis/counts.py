"""Per-run region counts: what ``RunConfig(count_regions=...)`` records for every run.

A sweep with ``count_regions='segment'`` or ``'grid'`` counts the linear regions of each
network twice, on its initial and its final weights, and stores them as ``regions_init``
and ``regions_final`` (the runs table, :attr:`fastdepth.RunResult.summary`). The counting
is done by :func:`fastdepth.engine.unpack_one`, in the trainer thread that has just
finished the network, so it overlaps the training of the others. Where it counts is fixed
by the run's config alone (never by its data draw), so a count can be redone from the
stored weights (:func:`run_regions`):

- ``segment``: :func:`~fastdepth.analysis.segment_regions`, exact, from the lower to the
  upper corner of :func:`fastdepth.datasets.bounding_box` (for 1-D data, the data range;
  for 2-D data, the box's diagonal).
- ``grid``: :func:`~fastdepth.analysis.grid_regions` on ``regions_resolution`` points per
  axis over the bounding box (2-D data only), an estimate (a lower bound).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import datasets
from ..config import RunConfig
from .network import Network
from .regions import grid_regions, segment_regions

__all__ = ["REGION_KEYS", "region_window", "run_region_counts", "run_regions"]

# The summary keys (and runs-table columns) of the counts, initial then final weights.
REGION_KEYS = ("regions_init", "regions_final")


def region_window(config: RunConfig) -> np.ndarray:
    """Where ``config``'s regions are counted: the dataset's bounding box.

    Returns
    -------
    ndarray of float64, shape (n_in, 2)
        ``[lo, hi]`` per input (:func:`fastdepth.datasets.bounding_box` of the run's dataset,
        noise and parameters): the segment runs from ``box[:, 0]`` to ``box[:, 1]``, the
        grid covers the box.
    """
    return datasets.bounding_box(config.dataset, config.noise, **config.dataset_kwargs)


def run_regions(config: RunConfig, params: Any) -> int:
    """The region count ``config.count_regions`` asks for, of the network ``params``.

    Parameters
    ----------
    config : RunConfig
        With ``count_regions`` ``'segment'`` or ``'grid'``.
    params : ndarray, shape (n_params,), or list of (W, b)
        Packed parameters (any float dtype; counted in float64) or per layer, e.g.
        :func:`fastdepth.store.load_params` of a stored run.

    Returns
    -------
    int
        Regions along the segment (exact) or on the grid (estimate); see the module.

    Raises
    ------
    ValueError
        With ``count_regions='off'``, or non-finite parameters.
    """
    mode = config.count_regions
    if mode == "off":
        raise ValueError("config.count_regions is 'off': there is no count to make")
    net = Network.from_config(config, params)
    box = region_window(config)
    if mode == "segment":
        return segment_regions(net, box[:, 0], box[:, 1]).count
    return grid_regions(net, box, config.regions_resolution).count


def run_region_counts(
    config: RunConfig, initial: np.ndarray, final: np.ndarray, ok: bool = True
) -> dict[str, int | None]:
    """``{'regions_init': n0, 'regions_final': n1}`` of one trained run.

    Parameters
    ----------
    config : RunConfig
        With ``count_regions`` not ``'off'``.
    initial, final : ndarray, shape (n_params,)
        Packed initial and final parameters.
    ok : bool
        False for a run that diverged: its final weights are not a network to count, so
        ``regions_final`` is None (as it is for non-finite final weights).

    Returns
    -------
    dict
        The two counts (int, or None), under :data:`REGION_KEYS`.
    """
    ok = ok and bool(np.all(np.isfinite(final)))
    return {
        "regions_init": run_regions(config, initial),
        "regions_final": run_regions(config, final) if ok else None,
    }
