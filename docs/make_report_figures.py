"""Render the README's figures of the default study into ``docs/``.

::

    python -m fastdepth.sweep --seeds 50 --out runs/default-s50
    python docs/make_report_figures.py runs/default-s50

Writes ``docs/loss_curves.png``, ``docs/accuracy_vs_depth.png`` and
``docs/layer_grad_profile.png`` with :mod:`fastdepth.plots`, exactly as
``python -m fastdepth.report`` draws them (same style and palette), at a resolution that keeps
the repository small. Headless (the figures never touch pyplot).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fastdepth import plots
from fastdepth.report import save_figure
from fastdepth.store import load, load_curves, load_layers

DOCS = Path(__file__).resolve().parent
DPI = 150
# The figures the README shows, drawn as the report draws them (fastdepth.plots.FIGURES).
README_FIGURES = ("loss_curves", "accuracy_vs_depth", "layer_grad_profile")


def main(argv: list[str] | None = None) -> list[Path]:
    """Draw the three figures of the store ``argv[0]`` into :data:`DOCS`."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python docs/make_report_figures.py STORE_DIR")
    path = Path(argv[0])
    runs = load(path, timing=False)
    inputs = {"curves": load_curves(path), "layers": load_layers(path), "path": path,
              "palette": plots.depth_palette(runs["depth"])}  # fmt: skip
    figures = {name: plots.FIGURES[name].draw(runs, **inputs) for name in README_FIGURES}
    out = []
    for name, fig in figures.items():
        out += save_figure(fig, DOCS, name, dpi=DPI)
    return out


if __name__ == "__main__":
    for p in main():
        print(p)
