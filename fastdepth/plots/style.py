"""The look every figure shares: style, depth palette, figure scaffolding and notes.

:func:`new_figure` lays out the title block (what the figure shows, what varied, what was
fixed) above a constrained-layout grid of panels; :func:`depth_legend` puts one entry per
depth at the right; :func:`styled` applies :data:`STYLE` while a figure is built and never
globally; :func:`add_note` records a caveat that :func:`figure_notes` reads back.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .grid import GridInfo, fixed_text, grid_info, linked_text, varied_text

# Paper-ready defaults, applied only while a figure is built (never globally).
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.35,
    "axes.axisbelow": True,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "errorbar.capsize": 2.5,
    "image.interpolation": "nearest",
    "svg.hashsalt": "fastdepth",  # deterministic SVG ids
}
PANEL_W, PANEL_H = 3.4, 2.5  # inches per panel
TITLE_SIZE, SUBTITLE_SIZE = 11.5, 8.5
# Two classes of a 2-D dataset: Okabe-Ito blue / vermillion, also told apart by the marker.
CLASS_COLORS = ("#0072B2", "#D55E00")
CLASS_MARKERS = ("o", "^")


def depth_palette(depths: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
    """One colour per depth, ordered: shallow = dark purple ... deep = yellow-green.

    Samples viridis (perceptually uniform, colour-blind safe, monotone in lightness) on
    ``[0, 0.85]``, leaving out the palest yellow, which is hard to see on white.
    """
    ds = sorted({int(d) for d in depths})
    cmap = mpl.colormaps["viridis"]
    if len(ds) == 1:
        return {ds[0]: cmap(0.3)}
    return {d: cmap(0.85 * i / (len(ds) - 1)) for i, d in enumerate(ds)}


def styled(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: build the figure under :data:`STYLE`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            # Fonts, line widths and tick properties are fixed when the artists are made,
            # so the figure keeps this style wherever it is drawn later.
            return fn(*args, **kwargs)

    return wrapper


def figure_notes(fig: Figure) -> list[str]:
    """Caveats recorded while drawing ``fig`` (e.g. ``'single seed: no IQR band'``)."""
    return list(getattr(fig, "fastdepth_notes", []))


def new_figure(
    nrows: int,
    ncols: int,
    title: str,
    info: GridInfo,
    *,
    extra: str = "",
    panel: tuple[float, float] = (PANEL_W, PANEL_H),
    sharex: bool | str = False,
    sharey: bool | str = False,
    right: float = 1.1,
    name: str = "",
    height_ratios: Sequence[float] | None = None,
) -> tuple[Figure, np.ndarray]:
    """A figure with an ``nrows x ncols`` grid of axes under a title block.

    The title block (what / varied / fixed) is laid out by hand above the
    constrained-layout area, so its size is known and nothing overlaps.
    """
    width = max(panel[0] * ncols + right, 6.0)
    body = width - right  # the legend column sits at the right, from the top down
    chars = int(body * 72 / (SUBTITLE_SIZE * 0.56))
    lines = [
        *textwrap.wrap("varied: " + varied_text(info, extra), chars),
        *textwrap.wrap("fixed: " + (fixed_text(info) or "-"), chars),
    ]
    head = (TITLE_SIZE * 1.5 + len(lines) * SUBTITLE_SIZE * 1.35 + 12) / 72  # inches
    height = panel[1] * (sum(height_ratios) if height_ratios else nrows) + head
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.set_layout_engine("constrained", rect=(0, 0, 1, 1 - head / height), h_pad=0.06)
    fig.fastdepth_notes = []  # type: ignore[attr-defined]
    fig.set_label(name)
    x = 0.5 * body / width
    y = 1 - 6 / 72 / height
    fig.text(x, y, title, ha="center", va="top", fontsize=TITLE_SIZE, fontweight="bold")
    y -= TITLE_SIZE * 1.5 / 72 / height
    fig.text(x, y, "\n".join(lines), ha="center", va="top", fontsize=SUBTITLE_SIZE,
             color="0.25", linespacing=1.35)  # fmt: skip
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey,
                        height_ratios=height_ratios)  # fmt: skip
    return fig, axes


def add_note(fig: Figure, text: str) -> None:
    """Record a caveat of ``fig`` (once), for :func:`figure_notes`."""
    notes = fig.fastdepth_notes  # type: ignore[attr-defined]
    if text not in notes:
        notes.append(text)


def depth_legend(
    fig: Figure,
    palette: Mapping[int, Any],
    depths: Sequence[int],
    extra: Sequence[tuple[Any, str]] = (),
    labels: Mapping[int, str] | None = None,
) -> None:
    """One legend entry per depth (then ``extra`` handles), right of the panels."""
    handles: list[Any] = [Line2D([], [], color=palette[d], lw=2.5) for d in depths]
    texts = [(labels or {}).get(d, f"depth {d}") for d in depths]
    for h, t in extra:
        handles.append(h)
        texts.append(t)
    fig.legend(handles, texts, loc="outside right upper", handlelength=1.6)


def panel_title(ax: Axes, label: str, g: pd.DataFrame, info: GridInfo) -> None:
    """The condition's name over a top panel, with the values chosen per depth if any."""
    linked = linked_text(g, info)
    if linked:
        ax.set_title(f"{label}\n{linked}" if label else linked, fontsize=9)
    else:
        ax.set_title(label)


def diverged_note(
    fig: Figure, label: str, d: int, n_div: int, n: int, missing: str = "nothing to draw"
) -> None:
    """Record that ``n_div`` of the ``n`` runs of depth ``d`` diverged (and were left out)."""
    where = f"{label}, " if label else ""
    if n_div == n:
        add_note(fig, f"{where}depth {d}: all {n} runs diverged, {missing}")
    elif n_div:
        add_note(fig, f"{where}depth {d}: {n_div} of {n} runs diverged and are left out")


def setup(runs: pd.DataFrame, palette: Mapping[int, Any] | None) -> tuple[GridInfo, dict[int, Any]]:
    """The grid of ``runs`` and the depth colours (``palette``, checked, or the default)."""
    info = grid_info(runs)
    pal = dict(palette) if palette is not None else depth_palette(info.depths)
    missing = [d for d in info.depths if d not in pal]
    if missing:
        raise ValueError(f"palette has no colour for depth {missing}")
    return info, pal


def empty_panel(ax: Axes, text: str) -> None:
    # set_axis_off, not empty ticks: tick locators are shared with the row / column
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4",
            fontsize=9)  # fmt: skip


def depth_x(depths: Sequence[int]) -> tuple[float, bool]:
    """Offset unit for side-by-side markers, and whether a log2 depth axis is clearer."""
    ds = sorted(depths)
    log = len(ds) > 3 and ds[0] >= 1 and ds[-1] / ds[0] >= 16
    if log:
        return 0.06, True
    gap = min(np.diff(ds)) if len(ds) > 1 else 1.0
    return float(gap), False


def xpos(d: float, off: float, unit: float, log: bool) -> float:
    """Where a marker of depth ``d`` shifted by ``off`` units sits on the depth axis."""
    return d * 2 ** (off * unit) if log else d + off * unit


def depth_axis(ax: Axes, depths: Sequence[int], log: bool) -> None:
    """Depth on x: one labelled tick per depth, log2 scale if ``log``, no vertical grid."""
    ax.set_xlabel("depth (hidden layers)")
    if log:
        ax.set_xscale("log", base=2)
    ax.set_xticks(depths)
    ax.set_xticklabels([str(d) for d in depths])
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.grid(False, axis="x")
