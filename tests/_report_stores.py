"""Tiny real sweeps shared by test_plots.py, test_report.py and test_figure_layout.py.

:func:`build` is idempotent: the first test module of a session trains the stores into the
session's base temporary directory, later ones find them finished (the sweep resumes with
nothing left to do), so each grid is trained once per session.
"""

from __future__ import annotations

from pathlib import Path

from fastdepth import store as st
from fastdepth import sweep

TINY = ["--widths", "4", "--epochs", "30", "--n-train", "64", "--n-test", "64",
        "--eval-every", "10", "--threads", "1", "--quiet"]  # fmt: skip
# A deep linear net at lr 100 explodes (a ReLU net at a huge lr dies instead): at depth 2
# and 3 every seed diverges, at depth 1 none does.
STORES: dict[str, list[str]] = {
    # the study shape: 2 datasets x 3 depths x 3 seeds
    "main": ["--datasets", "circle,rings", "--depths", "1,2,3", "--seeds", "3"],
    # two learning rates, the larger diverging at depth 2 and 3; sharpness
    "lrs": ["--datasets", "circle", "--depths", "1,2,3", "--seeds", "2",
            "--activations", "identity", "--lrs", "0.05,100", "--sharpness-every", "5"],
    # every run diverges
    "alldiv": ["--datasets", "circle", "--depths", "2,3", "--seeds", "2",
               "--activations", "identity", "--lrs", "100"],
    # one depth, one seed
    "single": ["--datasets", "circle", "--depths", "2", "--seeds", "1"],
    # relu next to tanh (dead units, saturated units), with weight snapshots
    "snap": ["--datasets", "moons", "--depths", "1,2", "--seeds", "2",
             "--activations", "relu,tanh", "--inits", "xavier", "--snapshot-every", "5"],
}  # fmt: skip
# Study shapes whose reports must lay out cleanly (test_figure_layout.py), besides "single"
# (one depth, one seed).
SHAPES: dict[str, list[str]] = {
    # one dataset, 8 depths, tanh + Adam at 3 rates: the best rate differs by depth, and
    # some seeds collapse (constant output) at lr 1; weight snapshots and sharpness
    "one8": ["--datasets", "spirals", "--depths", "1,2,3,4,5,6,7,8", "--seeds", "2",
             "--activations", "tanh", "--inits", "xavier", "--optimizers", "adam",
             "--lrs", "0.01,0.1,1", "--snapshot-every", "10", "--sharpness-every", "5"],
    # 16 depths, weight snapshots
    "d16": ["--datasets", "circle", "--depths", ",".join(map(str, range(1, 17))),
            "--seeds", "2", "--snapshot-every", "10"],
    # more depths than colours: the curves are drawn per group of depths
    "d20": ["--datasets", "circle", "--depths", ",".join(map(str, range(1, 21))),
            "--seeds", "1"],
    # tanh, two datasets, three rates: the best rate differs by depth and by dataset;
    # sharpness (the stable rates against 2 / lambda_0)
    "tanh": ["--datasets", "circle,rings", "--depths", "1,2,4", "--seeds", "2",
             "--activations", "tanh", "--inits", "xavier", "--lrs", "0.3,1,3",
             "--sharpness-every", "5"],
    # linear regions estimated on a grid (2-D data), 5 depths
    "regions": ["--datasets", "circle", "--depths", "1,2,3,4,6", "--seeds", "3",
                "--count-regions", "grid", "--regions-resolution", "64"],
    # linear regions counted exactly along the data range (1-D regression), 2 rates, the
    # larger diverging at depth 2 and 3 (regions_final missing there)
    "regions1d": ["--datasets", "regression1d", "--loss", "mse", "--depths", "1,2,3",
                  "--seeds", "2", "--activations", "identity,relu", "--lrs", "0.05,100",
                  "--count-regions", "segment"],
}  # fmt: skip


def build(base: Path, which: dict[str, list[str]] = STORES) -> dict[str, Path]:
    """The stores of ``which`` under ``base`` (trained unless already finished)."""
    out = {}
    for name, args in which.items():
        path = base / name
        store = st.Store(path)
        if not (store.exists() and len(store.done_chunks()) == len(store.chunks())):
            assert sweep.main([*args, *TINY, "--out", str(path)]) == 0, name
        out[name] = path
    return out
