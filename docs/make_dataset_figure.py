"""Render every registered dataset (default parameters) to ``docs/datasets.png``.

Run ``python docs/make_dataset_figure.py``; it uses the Agg backend, so no display is needed.
2-D sets are scatter plots coloured by label; ``segment`` shows x against the label (with a
little vertical jitter so overlapping points stay visible); ``regression1d`` shows y against x
for both targets. The ``segment`` panels show all three targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastdepth import datasets

N = 600
OUT = Path(__file__).with_name("datasets.png")
COLORS = np.array(["#1f77b4", "#d62728"])  # label 0 blue, label 1 red


def main() -> Path:
    """Draw all datasets into one figure and save it to :data:`OUT`."""
    import matplotlib

    matplotlib.use("Agg")  # before pyplot is imported: no display needed
    import matplotlib.pyplot as plt

    panels: list[tuple[str, dict]] = [
        (name, {}) for name, spec in datasets.DATASETS.items() if spec.n_in == 2
    ]
    panels += [("segment", {"target": t}) for t in datasets.SEGMENT_TARGETS]
    panels += [("regression1d", {"target": t}) for t in datasets.REGRESSION_TARGETS]
    ncol = 4
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.8 * nrow))
    for ax, (name, params) in zip(axes.flat, panels, strict=False):
        X, y = datasets.make(name, N, seed=0, **params)
        info = datasets.dataset_info(name)
        title = name + "".join(f" {k}={v}" for k, v in params.items())
        if info["task"] == "regression":
            ax.scatter(X[:, 0], y, s=3, c="k")
        elif info["n_in"] == 1:
            jitter = np.random.default_rng(1).uniform(-0.08, 0.08, N)
            ax.scatter(X[:, 0], y + jitter, s=3, c=COLORS[y.astype(int)])
            ax.set_yticks([0, 1])
        else:
            ax.scatter(X[:, 0], X[:, 1], s=3, c=COLORS[y.astype(int)])
            box = datasets.bounding_box(name, **params)
            ax.set_xlim(box[0])
            ax.set_ylim(box[1])
            ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle(f"fastdepth datasets (n={N}, seed=0, default noise)", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(main())
