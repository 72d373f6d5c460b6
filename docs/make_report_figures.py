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


def main(argv: list[str] | None = None) -> list[Path]:
    """Draw the three figures of the store ``argv[0]`` into :data:`DOCS`."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python docs/make_report_figures.py STORE_DIR")
    path = Path(argv[0])
    runs = load(path, timing=False)
    palette = plots.depth_palette(runs["depth"])
    figures = {
        "loss_curves": plots.loss_curves(runs, load_curves(path), palette=palette),
        "accuracy_vs_depth": plots.accuracy_vs_depth(runs, palette=palette),
        "layer_grad_profile": plots.layer_grad_profile(runs, load_layers(path), palette=palette),
    }
    out = []
    for name, fig in figures.items():
        out += save_figure(fig, DOCS, name, dpi=DPI)
    return out


if __name__ == "__main__":
    for p in main():
        print(p)
