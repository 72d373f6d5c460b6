"""Linear-region counting: the 2-D grid estimate and the exact 1-D count, depth 8 x width 16.

``pytest bench/test_bench_regions.py`` times them (the numbers quoted in
``docs/analysis.md``); with ``--benchmark-disable`` they run once on a small grid.
"""

from __future__ import annotations

import fastdepth.kernels as K
import numpy as np
from fastdepth.kernels import reference as R

from fastdepth.analysis import Network, grid_regions, segment_regions

BOX = [[-1.8, 1.8], [-1.8, 1.8]]  # the spirals box of experiments/07_depth_vs_width


def _net() -> Network:
    """ReLU, depth 8, width 16, He-variance weights, biases N(0, 0.05) (study 07's init)."""
    rng = np.random.default_rng(0)
    layout = K.Layout(2, [16] * 8)
    parts = []
    for fi, fo, _, _ in layout.table:
        w = rng.standard_normal(fi * fo) * np.sqrt(2 / fi)
        parts += [w, rng.standard_normal(fo) * np.sqrt(0.05)]
    return Network(np.concatenate(parts), layout, "relu")


def test_grid_regions(benchmark, scale):
    net = _net()
    X = np.random.default_rng(1).uniform(-1.8, 1.8, (2, 3000))
    h = K.pattern_hashes(net.params, net.layout, X, [0.0])
    np.testing.assert_array_equal(h, R.pattern_hashes(net.params, net.layout, X, [0.0]))
    n = 1000 if scale == "full" else 100
    benchmark.group = f"regions d8w16 grid {n}x{n}"
    g = benchmark(grid_regions, net, BOX, n)
    assert g.count > 100


def test_pattern_hashes_alone(benchmark, scale):
    net = _net()
    n = 1000 if scale == "full" else 100
    g = np.linspace(-1.8, 1.8, n)
    gx, gy = np.meshgrid(g, g)
    X = np.ascontiguousarray(np.vstack([gx.ravel(), gy.ravel()]))
    out = np.empty(n * n, dtype=np.uint64)
    benchmark.group = f"regions d8w16 grid {n}x{n}"
    benchmark(K.pattern_hashes, net.params, net.layout, X, [0.0], out=out)


def test_segment_regions(benchmark):
    """The window's diagonal."""
    net = _net()
    benchmark.group = "regions d8w16 exact 1-D"
    seg = benchmark(segment_regions, net, [-1.8, -1.8], [1.8, 1.8])
    assert seg.count > 10
