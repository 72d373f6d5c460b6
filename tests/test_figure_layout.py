"""Every figure of the report lays out cleanly, whatever the study's shape.

The report of seven study shapes (one dataset with 8 depths and a best rate per depth, tanh,
with weight snapshots and sharpness; a single depth; 16 depths with snapshots; 20 depths
(drawn in two groups); tanh on two datasets with a best rate per depth and dataset, with
sharpness; linear regions counted on a 2-D grid; linear regions counted along a 1-D data
range, with two rates) is
written with :func:`fastdepth.report.write_report`; each figure is checked as it is saved:
every text artist lies inside the figure, and no two of the title block, the legends and
the panel titles overlap each other, nor does a legend or the title block cover a panel,
nor do the tick labels of an axis, or the annotations of a panel, overlap each other.
"""

from __future__ import annotations

import itertools

import matplotlib as mpl
import pytest
from _report_stores import SHAPES, STORES, build
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from fastdepth import report
from fastdepth.plots import STYLE

TOL = 1.0  # pixels: anti-aliasing and rounding, not layout


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "report_stores"
    return {**build(base, {"single": STORES["single"]}), **build(base, SHAPES)}


def _in_view(axis, tick) -> bool:
    lo, hi = sorted(axis.get_view_interval())
    span = hi - lo
    return lo - 1e-9 * span <= tick.get_loc() <= hi + 1e-9 * span


def tick_labels(axis) -> list[Text]:
    """The tick labels ``axis`` draws (those of ticks inside its view)."""
    ticks = [t for t in axis.get_major_ticks() + axis.get_minor_ticks() if _in_view(axis, t)]
    labels = [lab for t in ticks for lab in (t.label1, t.label2)]
    return [t for t in labels if t.get_visible() and t.get_text().strip()]


def text_artists(fig: Figure) -> list[Text]:
    """Every text the figure draws: figure texts, legends, titles, labels, ticks, annotations."""
    texts = list(fig.texts)
    legends = list(fig.legends)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, *ax.texts]
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                texts += [axis.label, axis.get_offset_text(), *tick_labels(axis)]
    for lg in legends:
        texts += [*lg.get_texts(), lg.get_title()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _overlap(a: Bbox, b: Bbox) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > TOL and min(a.y1, b.y1) - max(a.y0, b.y0) > TOL


def _name(t: Text) -> str:
    return repr(t.get_text().replace("\n", " ")[:50])


def layout_problems(fig: Figure) -> list[str]:
    """What is clipped or covered in ``fig`` once drawn (an empty list when nothing is)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    box = fig.bbox
    out = []
    for t in text_artists(fig):
        e = t.get_window_extent(r)
        if e.x0 < box.x0 - TOL or e.y0 < box.y0 - TOL or e.x1 > box.x1 + TOL or e.y1 > box.y1 + TOL:
            out.append(f"text {_name(t)} is cut off by the figure's edge")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    for ax in panels:
        groups = [tick_labels(axis) for axis in ((ax.xaxis, ax.yaxis) if ax.axison else ())]
        groups.append([t for t in ax.texts if t.get_visible() and t.get_text().strip()])
        for texts in groups:  # the tick labels of an axis; the annotations of a panel
            boxes = [(t, t.get_window_extent(r)) for t in texts]
            for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
                if _overlap(a, b):
                    out.append(f"texts {_name(ta)} and {_name(tb)} overlap")
    legends = [*fig.legends, *(ax.get_legend() for ax in panels if ax.get_legend())]
    blocks = [(f"title block {_name(t)}", t.get_window_extent(r), None) for t in fig.texts]
    blocks += [(f"legend {i}", lg.get_window_extent(r), None) for i, lg in enumerate(legends)]
    blocks += [(f"panel title {_name(ax.title)}", ax.title.get_window_extent(r), ax)
               for ax in panels if ax.title.get_text().strip()]  # fmt: skip
    for (na, a, _), (nb, b, _) in itertools.combinations(blocks, 2):
        if _overlap(a, b):
            out.append(f"{na} overlaps {nb}")
    for name, b, own in blocks:
        for ax in panels:
            # a legend drawn inside its own panel is placed by matplotlib to avoid the data
            if ax is own or (ax.get_legend() is not None and name.startswith("legend")):
                continue
            if _overlap(b, ax.bbox):
                out.append(f"{name} covers a panel ({ax.get_label() or 'axes'})")
    return out


def test_the_check_finds_a_clipped_title_and_a_covering_legend():
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([0, 1], label="depth 1")
    fig.text(0.5, 0.98, "a title far too long to fit in a figure this narrow", ha="center",
             va="top")  # fmt: skip
    fig.legend(loc="upper right")
    problems = layout_problems(fig)
    assert any("cut off" in p and "a title far too long" in p for p in problems)
    assert any(p.startswith("title block") and "overlaps legend" in p for p in problems)
    assert any(p.startswith("legend") and "covers a panel" in p for p in problems)
    clean = Figure(figsize=(3, 2), layout="constrained")
    clean.subplots().plot([0, 1])
    clean.suptitle("fits")
    assert layout_problems(clean) == []
    crowded = Figure(figsize=(2, 2), layout="constrained")
    ax = crowded.subplots()
    ax.set_xticks(range(16))
    ax.set_xticklabels([f"label {i}" for i in range(16)])
    assert any("texts 'label 0' and 'label 1' overlap" in p for p in layout_problems(crowded))


BY_COLOUR = [name for name, spec in report.FIGURES.items() if spec.by_colour]
# ReLU studies have dead units, tanh studies saturated ones; only stores with weight
# snapshots draw the units over training.
# Only the stores that measured the sharpness draw its figures (one8: Adam, no stable-rate
# comparison; tanh: SGD over three rates, both); only stores swept with --count-regions
# draw the linear regions.
SHARP = ("sharpness_curves", "stable_lr_vs_sharpness")
REGIONS = "regions_vs_depth"
RELU = [n for n in report.FIGURES if n not in ("saturated_units", REGIONS, *SHARP)]
TANH = [n for n in report.FIGURES if n not in ("dead_units", REGIONS, *SHARP)]
NO_SNAP = ["units_over_training"]
NO_GRID = [name for name in RELU if name != "lr_heatmaps"]
# The figures each shape's report must draw (the others are skipped, with a reason), as
# (figure, depths drawn together) pairs.
D20 = [list(range(1, 11)), list(range(11, 21))]
SHAPE_FIGURES = {
    "one8": {(n, tuple(range(1, 9))) for n in (*TANH, "sharpness_curves")},
    "single": {(n, (2,)) for n in ("loss_curves", "grad_norm_curves", "layer_grad_profile",
                                   "dead_units", "decision_boundaries")},
    "d16": {(n, tuple(range(1, 17))) for n in NO_GRID},
    "d20": {(n, tuple(ds)) for n in BY_COLOUR if n in RELU for ds in D20}
    | {(n, tuple(range(1, 21))) for n in NO_GRID if n not in BY_COLOUR and n not in NO_SNAP},
    "tanh": {(n, (1, 2, 4)) for n in (*TANH, *SHARP) if n not in NO_SNAP},
    "regions": {(n, (1, 2, 3, 4, 6)) for n in [*NO_GRID, REGIONS] if n not in NO_SNAP},
    # a regression task has no accuracy
    "regions1d": {(n, (1, 2, 3)) for n in [*RELU, REGIONS]
                  if n not in NO_SNAP and n != "accuracy_vs_depth"},
}  # fmt: skip


def _depths(stem: str) -> tuple[int, ...]:
    tag = next(p for p in stem.split("__")[1:] if p.startswith("d") and p[1:2].isdigit())
    return tuple(int(d) for d in tag[1:].split("-"))


@pytest.mark.parametrize("shape", list(SHAPE_FIGURES))
def test_report_figures_lay_out_cleanly(shape, stores, tmp_path, monkeypatch):
    problems: dict[str, list[str]] = {}

    def checked(fig, directory, stem, **kwargs):
        # drawn once, here, as save_figure draws it, instead of written (test_report.py
        # checks the files)
        with mpl.rc_context(STYLE):
            problems[stem] = layout_problems(fig)
        fig.clear()
        return [directory / f"{stem}.png"]

    monkeypatch.setattr(report, "save_figure", checked)
    rep = report.write_report(stores[shape], tmp_path)
    drawn = {(stem.split("__")[0], _depths(stem)) for stem in problems}
    assert drawn == SHAPE_FIGURES[shape], dict(rep.skipped)
    bad = {stem: p for stem, p in problems.items() if p}
    assert not bad, "\n".join(f"{s}:\n  " + "\n  ".join(p) for s, p in bad.items())
