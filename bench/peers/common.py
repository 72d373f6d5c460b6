"""What the grid peers share: the cell file, the data, the FLOP count, the result file.

The peers (``jax_grid.py``, ``torch_grid.py``) run in an environment of their own, without
fastdepth, so this module uses NumPy only. ``bench.grid`` writes the cells as JSON (a list
of objects with ``name, n, width, depth, batch, activation, optimizer, lr, seeds, steps``;
``batch`` = ``n`` for full batch) and reads back one result per cell:
``{"name", "seconds", "compile_seconds", "loss_first", "loss_last"}``.

Minibatches are taken in a fixed order (batch ``step mod (n / batch)`` of the data as
drawn), not reshuffled every epoch as fastdepth does: the peers are spared the gather.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

N_IN = 2


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Nested rings like fastdepth's (``n x 2`` inputs, 0/1 labels); FLOPs do not depend
    on the values."""
    rng = np.random.default_rng(seed)
    ring = np.arange(n) % 4
    r = ring + 1.0 + 0.1 * rng.standard_normal(n)
    a = rng.uniform(0, 2 * np.pi, n)
    perm = rng.permutation(n)
    X = np.stack([r * np.cos(a), r * np.sin(a)], 1)[perm]
    return X, (ring % 2).astype(np.float64)[perm]


def sizes(cell: dict) -> list[int]:
    return [N_IN, *([cell["width"]] * cell["depth"]), 1]


def init_scale(cell: dict, fan_in: int) -> float:
    """He for ReLU, Xavier (normal, ``1 / fan_in`` for a square layer) otherwise."""
    return float(np.sqrt((2.0 if cell["activation"] == "relu" else 1.0) / fan_in))


def parse(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--cells", required=True, help="JSON file written by bench.grid")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--out", required=True, help="JSON file for the results")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per cell (best kept)")
    return ap.parse_args()


def read_cells(path: str) -> list[dict]:
    with open(path) as f:
        return json.load(f)


def write_results(path: str, results: list[dict], meta: dict) -> None:
    with open(path, "w") as f:
        json.dump({"meta": meta, "cells": results}, f, indent=1)
