"""Figure scaffolding: the title block, the panels, the depth legend, and the caveats.

Every figure is a title block across the top (what it shows, what varied, what was held
fixed), the panels below it in a constrained layout, and, for most, a legend of the depths
at the right, below the title block. :func:`new_figure` makes the panels; when the figure
function returns, :func:`styled` sizes the figure around them: the legend and the title
text are measured (not guessed), the title lines wrapped to the figure's width, the figure
made wide enough for the legend and tall enough for it and for the title block, and the
panels laid out in the rest. So no title is clipped and no legend covers a title or a panel,
whatever the number of depths, conditions or the length of the grid's description.

:func:`add_note` records a caveat of a figure, which :func:`figure_notes` reads back.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from .grid import GridInfo, depth_label, fixed_text, grid_info, linked_text, varied_text
from .style import PANEL_H, PANEL_W, STYLE, SUBTITLE_SIZE, TITLE_SIZE, depth_palette

MIN_WIDTH = 6.0  # inches: room for the title block of a one-panel figure
_PAD = 0.1  # inches around the title block and between the panels and the legend
_TITLE_LEADING, _SUBTITLE_LEADING = 1.3, 1.35  # line height / font size
PANEL_TITLE_SIZE = 9.0  # panel titles of more than one line


@dataclass
class _Frame:
    """What :func:`finish` needs to size a figure made by :func:`new_figure`."""

    title: str
    lines: list[str]  # the description below the title, one paragraph each
    body: tuple[float, float]  # inches the panels need
    legend: Legend | None = None  # the legend at the right, if any


def _frame(fig: Figure) -> _Frame | None:
    return getattr(fig, "_fastdepth_frame", None)


def text_width(text: str, size: float, weight: str = "normal") -> float:
    """Width in inches of one line of ``text`` at ``size`` points in the current font."""
    renderer = RendererAgg(1, 1, 72)  # a measuring tape only: nothing is drawn on it
    prop = FontProperties(size=size, weight=weight)
    return renderer.get_text_width_height_descent(text, prop, ismath=False)[0] / 72


def fit_lines(
    parts: Sequence[str], width: float, size: float, *, sep: str = " ", weight: str = "normal"
) -> list[str]:
    """``parts`` joined by ``sep`` into as few lines as fit in ``width`` inches.

    A part wider than ``width`` gets a line of its own (it is never cut).
    """
    lines: list[str] = []
    for part in parts:
        if lines and text_width(lines[-1] + sep + part, size, weight) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return lines


def wrap_text(text: str, width: float, size: float, weight: str = "normal") -> list[str]:
    """``text`` wrapped at spaces into lines that fit in ``width`` inches."""
    return fit_lines(text.split(" "), width, size, weight=weight)


def styled(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: build the figure under :data:`STYLE`, then size it (:func:`finish`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(STYLE):
            # Fonts, line widths and tick properties are fixed when the artists are made,
            # so the figure keeps this style wherever it is drawn later.
            return finish(fn(*args, **kwargs))

    return wrapper


def figure_notes(fig: Figure) -> list[str]:
    """Caveats recorded while drawing ``fig`` (e.g. ``'single seed: no IQR band'``)."""
    return list(getattr(fig, "fastdepth_notes", []))


def add_note(fig: Figure, text: str) -> None:
    """Record a caveat of ``fig`` (once), for :func:`figure_notes`."""
    notes = fig.fastdepth_notes  # type: ignore[attr-defined]
    if text not in notes:
        notes.append(text)


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
    name: str = "",
    height_ratios: Sequence[float] | None = None,
) -> tuple[Figure, np.ndarray]:
    """A figure with an ``nrows x ncols`` grid of ``panel``-sized axes under a title block.

    The title block reads ``title``, then what varied in ``info`` (and ``extra``), then what
    was fixed. The figure gets its final size when the figure function returns
    (:func:`styled`).

    Returns
    -------
    (Figure, numpy.ndarray of Axes, shape (nrows, ncols))
    """
    body = (panel[0] * ncols, panel[1] * (sum(height_ratios) if height_ratios else nrows))
    fig = Figure(figsize=body, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.06)
    fig.fastdepth_notes = []  # type: ignore[attr-defined]
    fig.set_label(name)
    lines = ["varied: " + varied_text(info, extra), "fixed: " + (fixed_text(info) or "-")]
    fig._fastdepth_frame = _Frame(title, lines, body)  # type: ignore[attr-defined]
    fig._fastdepth_panel_width = panel[0]  # type: ignore[attr-defined]
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey,
                        height_ratios=height_ratios)  # fmt: skip
    return fig, axes


def finish(fig: Figure) -> Figure:
    """Size ``fig`` around its panels, legend and title block; see the module docstring.

    Figures not made by :func:`new_figure` are returned as they are.
    """
    frame = _frame(fig)
    if frame is None:
        return fig
    for ax in fig.axes:
        # Ticks made when the figure is drawn (log axes, colour bars) would take the tick
        # label size of the rcParams of that moment: fix it to the style's now.
        ax.xaxis.set_tick_params(which="both", labelsize=mpl.rcParams["xtick.labelsize"])
        ax.yaxis.set_tick_params(which="both", labelsize=mpl.rcParams["ytick.labelsize"])
    leg_w = leg_h = gap = 0.0
    if frame.legend is not None:
        ext = frame.legend.get_window_extent(RendererAgg(1, 1, fig.dpi))
        leg_w, leg_h, gap = ext.width / fig.dpi + _PAD, ext.height / fig.dpi, _PAD
    width = max(frame.body[0] + gap + leg_w, MIN_WIDTH)  # leg_w: the legend and a margin
    text_w = width - 2 * _PAD
    title = wrap_text(frame.title, text_w, TITLE_SIZE, "bold")
    sub = [line for p in frame.lines for line in wrap_text(p, text_w, SUBTITLE_SIZE)]
    title_h = len(title) * TITLE_SIZE * _TITLE_LEADING / 72
    head = _PAD + title_h + len(sub) * SUBTITLE_SIZE * _SUBTITLE_LEADING / 72 + _PAD
    body_h = max(frame.body[1], leg_h + _PAD)
    height = head + body_h
    fig.set_size_inches(width, height)
    top = 1 - _PAD / height
    fig.text(0.5, top, "\n".join(title), ha="center", va="top", fontsize=TITLE_SIZE,
             fontweight="bold", linespacing=_TITLE_LEADING)  # fmt: skip
    fig.text(0.5, top - title_h / height, "\n".join(sub), ha="center", va="top",
             fontsize=SUBTITLE_SIZE, color="0.25", linespacing=_SUBTITLE_LEADING)  # fmt: skip
    # panels and legend as one block, centred when the title block makes the figure wider
    left = (width - frame.body[0] - gap - leg_w) / 2 / width
    right = left + frame.body[0] / width
    fig.get_layout_engine().set(rect=(left, 0, right - left, 1 - head / height))
    if frame.legend is not None:
        frame.legend.set_bbox_to_anchor((right + gap / width, 1 - head / height),
                                        transform=fig.transFigure)  # fmt: skip
    del fig._fastdepth_frame  # type: ignore[attr-defined]
    return fig


def depth_legend(
    fig: Figure,
    palette: Mapping[int, Any],
    info: GridInfo,
    extra: Sequence[tuple[Any, str]] = (),
) -> None:
    """One entry per depth (:func:`depth_label`), then the ``extra`` handles, at the right."""
    handles: list[Any] = [Line2D([], [], color=palette[d], lw=2.5) for d in info.depths]
    texts = [depth_label(d, info) for d in info.depths]
    for h, t in extra:
        handles.append(h)
        texts.append(t)
    leg = fig.legend(handles, texts, loc="upper left", handlelength=1.6, borderaxespad=0)
    frame = _frame(fig)
    if frame is not None:
        frame.legend = leg


def panel_title(ax: Axes, label: str, g: pd.DataFrame, info: GridInfo) -> None:
    """The condition's name over a top panel, with the values chosen per depth if any."""
    linked = linked_text(g, info)
    if not linked:
        ax.set_title(label)
        return
    width = getattr(ax.figure, "_fastdepth_panel_width", PANEL_W) - 0.5
    lines = [label] if label else []
    lines += fit_lines(linked.split(", "), width, PANEL_TITLE_SIZE, sep=", ")
    ax.set_title("\n".join(lines), fontsize=PANEL_TITLE_SIZE)


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
    """A panel with nothing to draw: no axes, ``text`` in the middle."""
    # set_axis_off, not empty ticks: tick locators are shared with the row / column
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4",
            fontsize=9)  # fmt: skip


def depth_x(depths: Sequence[int]) -> tuple[float, bool]:
    """Offset unit for side-by-side markers, and whether a log2 depth axis is clearer.

    Log2 when the depths span a factor of 16 or more and sit further apart on it than on a
    linear axis (1, 2, 4, ..., 64, not 1, 2, ..., 16, whose ticks would crowd at the right).
    """
    ds = sorted(depths)
    log = len(ds) > 3 and ds[0] >= 1 and ds[-1] / ds[0] >= 16
    if log:
        lin_gap = np.diff(ds).min() / (ds[-1] - ds[0])
        log_gap = np.diff(np.log2(ds)).min() / np.log2(ds[-1] / ds[0])
        log = bool(log_gap > lin_gap)
    if log:
        return 0.06, True
    gap = min(np.diff(ds)) if len(ds) > 1 else 1.0
    return float(gap), False


def xpos(d: float, off: float, unit: float, log: bool) -> float:
    """Where a marker of depth ``d`` shifted by ``off`` units sits on the depth axis."""
    return d * 2 ** (off * unit) if log else d + off * unit


def label_step(ax: Axes, labels: Sequence[str], size: float) -> int:
    """Label every how-many-th of ``labels`` evenly spread across ``ax`` so none overlap."""
    width = getattr(ax.figure, "_fastdepth_panel_width", PANEL_W) - 0.8  # less the y labels
    need = max(text_width(s, size) for s in labels) + 0.08
    return max(1, math.ceil(len(labels) * need / width))


def depth_axis(ax: Axes, depths: Sequence[int], log: bool) -> None:
    """Depth on x: a tick per depth, labelled as often as the labels fit (every one up to
    about 20), log2 scale if ``log``, no vertical grid."""
    ax.set_xlabel("depth (hidden layers)")
    if log:
        ax.set_xscale("log", base=2)
    ax.set_xticks(depths)
    step = label_step(ax, [str(d) for d in depths], mpl.rcParams["xtick.labelsize"])
    ax.set_xticklabels([str(d) if i % step == 0 else "" for i, d in enumerate(depths)])
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.grid(False, axis="x")
