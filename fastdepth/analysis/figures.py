"""Figures of the analyses: region maps.

Built on :class:`matplotlib.figure.Figure` directly (never ``pyplot``), in the style of
:mod:`fastdepth.plots` (:data:`fastdepth.plots.STYLE`, applied only while drawing).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..plots.style import STYLE, SUBTITLE_SIZE, TITLE_SIZE
from .regions import GridRegions, SegmentRegions

__all__ = ["draw_region_map", "region_maps"]


def draw_region_map(
    ax: Axes,
    regions: GridRegions,
    *,
    segment: SegmentRegions | None = None,
    title: str | None = None,
    seed: int = 0,
) -> None:
    """Draw one region map on ``ax``: a random colour per activation region.

    Parameters
    ----------
    ax : matplotlib Axes
    regions : GridRegions
        From :func:`~fastdepth.analysis.grid_regions`.
    segment : SegmentRegions, optional
        A segment in the same plane (2-D input) to draw on top, with its exact breakpoints.
    title : str, optional
        Default: the count, with the resolution it was estimated at.
    seed : int
        Seed of the colours (light, so that the dots of a segment stay visible).
    """
    colors = np.random.default_rng(seed).uniform(0.25, 1.0, (regions.count, 3))
    xs, ys = regions.xs, regions.ys
    ax.imshow(colors[regions.ids], origin="lower", extent=(xs[0], xs[-1], ys[0], ys[-1]),
              interpolation="nearest", aspect="auto")  # fmt: skip
    if segment is not None:
        if segment.start.size != 2:
            raise ValueError("a segment can be drawn on a region map of a 2-D input only")
        ends = np.stack([segment.start, segment.end])
        ax.plot(ends[:, 0], ends[:, 1], color="k", lw=0.8)
        p = segment.points
        ax.plot(p[:, 0], p[:, 1], "o", color="k", ms=1.6, mew=0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title is None:
        title = f"{regions.count} regions ({regions.resolution}$^2$ grid)"
        if segment is not None:
            title += f"\n{segment.count} along the line (exact)"
    ax.set_title(title, fontsize=SUBTITLE_SIZE)


def region_maps(
    maps: Sequence[GridRegions],
    *,
    titles: Sequence[str] | None = None,
    segments: Sequence[SegmentRegions | None] | None = None,
    ncols: int | None = None,
    suptitle: str | None = None,
    panel: float = 2.4,
    seed: int = 0,
) -> Figure:
    """Region maps side by side (row-major, ``ncols`` per row; default one row).

    Parameters
    ----------
    maps : sequence of GridRegions
    titles : sequence of str, optional
        One per map (default: the count and resolution).
    segments : sequence of SegmentRegions or None, optional
        One per map, drawn on top (see :func:`draw_region_map`).
    ncols : int, optional
    suptitle : str, optional
    panel : float
        Inches per (square) panel.
    seed : int
        Colours: map ``i`` uses ``seed + i``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    maps = list(maps)
    if not maps:
        raise ValueError("no region maps to draw")
    for name, seq in (("titles", titles), ("segments", segments)):
        if seq is not None and len(seq) != len(maps):
            raise ValueError(f"{name} must have one entry per map ({len(maps)}), got {len(seq)}")
    ncols = len(maps) if ncols is None else int(ncols)
    nrows = -(-len(maps) // ncols)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(panel * ncols, panel * nrows + (0.5 if suptitle else 0.2)),
                     layout="constrained")  # fmt: skip
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
        for i, ax in enumerate(axes):
            if i >= len(maps):
                ax.set_axis_off()
                continue
            draw_region_map(
                ax,
                maps[i],
                segment=None if segments is None else segments[i],
                title=None if titles is None else titles[i],
                seed=seed + i,
            )
        if suptitle:
            fig.suptitle(suptitle, fontsize=TITLE_SIZE, fontweight="bold")
    return fig
