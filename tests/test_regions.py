"""Linear regions: exact along segments, estimated on grids, checked against geometry."""

from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pytest
from fastdepth.kernels import Layout
from fastdepth.kernels import reference as R
from fastdepth.kernels.vocab import ACTIVATIONS

import fastdepth as fd
from fastdepth import sweep
from fastdepth.analysis import (
    BREAKPOINTS,
    Network,
    activation_cuts,
    as_network,
    grid_regions,
    segment_regions,
)
from fastdepth.analysis.figures import region_maps

PWL = ACTIVATIONS.where(piecewise_linear=True)
SQUARE = [[-1.0, 1.0], [-1.0, 1.0]]


def _net(rng, n_in, widths, act="relu", residual=0, sb=0.3):
    layout = Layout(n_in, widths)
    parts = []
    for fi, fo, _, _ in layout.table:
        parts += [rng.standard_normal(fi * fo) * np.sqrt(2.0 / fi), rng.standard_normal(fo) * sb]
    return Network(np.concatenate(parts), layout, act, residual=residual)


# ----------------------------------------------------------------------------- activations


def test_every_piecewise_linear_activation_has_its_breakpoints():
    assert set(BREAKPOINTS) == set(PWL)  # from the vocabulary's kinks


@pytest.mark.parametrize("act", PWL)
def test_breakpoints_are_where_the_activation_bends(act):
    """Affine between the listed breakpoints, a slope change at each one."""
    cuts = np.array(BREAKPOINTS[act])
    edges = np.concatenate([[-50.0], cuts, [50.0]])
    for lo, hi in itertools.pairwise(edges):
        z = np.linspace(lo, hi, 101)[1:-1]
        h = R.activation(z, act)
        np.testing.assert_allclose(np.diff(h, 2), 0, atol=1e-12)
    for c in cuts:
        g = R.activation_grad(np.array([c - 1e-3, c + 1e-3]), act)
        assert g[0] != g[1]


def test_activation_cuts():
    assert activation_cuts("relu").tolist() == [0.0]
    assert activation_cuts("leaky_relu", 0.2).tolist() == [0.0]
    assert activation_cuts("leaky_relu", 1.0).tolist() == []  # the identity
    assert activation_cuts("identity").tolist() == []
    with pytest.raises(ValueError, match="not piecewise linear.*no linear regions"):
        activation_cuts("tanh")
    with pytest.raises(ValueError, match="did you mean 'relu'"):
        activation_cuts("rleu")


@pytest.mark.parametrize("act", ["tanh", "gelu", "sigmoid"])
def test_smooth_activations_are_refused_with_a_clear_error(act):
    net = _net(np.random.default_rng(0), 2, [4], act)
    msg = r"linear regions need a piecewise-linear activation \(identity, relu, leaky_relu\)"
    with pytest.raises(ValueError, match=msg):
        segment_regions(net, [-1, -1], [1, 1])
    with pytest.raises(ValueError, match=msg):
        grid_regions(net, SQUARE, 10)


# ----------------------------------------------------------------------------- one layer


def _arrangement(W, b, h):
    """Regions of lines ``W[:, j] . x + b_j = 0`` in [-1, 1]^2, counted from geometry, and
    whether every region is wider than ``4 h`` (so a grid of spacing ``h`` meets it)."""
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=2)))
    vals = corners @ W + b  # (4, m)
    crossing = (vals.min(axis=0) < 0) & (vals.max(axis=0) > 0)
    lines = [(W[:, j], b[j]) for j in range(W.shape[1]) if crossing[j]]
    inside = []
    for (w1, b1), (w2, b2) in itertools.combinations(lines, 2):
        x = np.linalg.solve(np.stack([w1, w2]), -np.array([b1, b2]))
        if np.max(np.abs(x)) < 1:
            inside.append(x)
    count = 1 + len(lines) + len(inside)
    # Margin: every vertex is >= 4h from every line or side it is not on. A region's width
    # is a vertex-to-edge distance, its inradius >= width / 3 > h / sqrt(2).
    sides = [(np.array(e), 1.0) for e in ([1.0, 0], [-1.0, 0], [0, 1.0], [0, -1.0])]
    allines = [(w / np.linalg.norm(w), c / np.linalg.norm(w)) for w, c in lines] + sides
    verts = list(inside) + list(corners)
    for w, c in lines:
        for s in (-1.0, 1.0):  # crossings with the sides x = s and y = s
            for axis in (0, 1):
                o = 1 - axis
                if abs(w[o]) > 1e-12:
                    p = np.empty(2)
                    p[axis] = s
                    p[o] = -(c + w[axis] * s) / w[o]
                    if abs(p[o]) <= 1:
                        verts.append(p)
    dist = np.abs(np.array([[v @ w + c for w, c in allines] for v in verts]))
    wide = bool(np.all((dist < 1e-12) | (dist >= 4 * h)))
    return count, wide


def _wide_arrangements(act, n_nets, res):
    rng = np.random.default_rng(42)
    found = []
    while len(found) < n_nets:
        net = _net(rng, 2, [int(rng.integers(2, 7))], act, sb=0.5)
        W, b = net.layout.weight_view(net.params, 0), net.layout.bias_view(net.params, 0)
        count, wide = _arrangement(W, b, 2.0 / (res - 1))
        if wide:
            found.append((net, count))
    return found


@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_one_hidden_layer_grid_count_converges_to_the_arrangement(act):
    """1 + lines crossing the window + their intersections inside it, counted by geometry;
    nested grids (17 c 65 c 257 c 1025 points per axis) can only gain regions."""
    for net, exact in _wide_arrangements(act, 8, 1025):
        counts = [grid_regions(net, SQUARE, n).count for n in (17, 65, 257, 1025)]
        assert counts == sorted(counts) and counts[-1] == exact, (counts, exact)


def test_one_hidden_layer_segment_crosses_each_line_once():
    rng = np.random.default_rng(7)
    for _ in range(20):
        net = _net(rng, 2, [int(rng.integers(1, 12))])
        a, b = rng.uniform(-2, 2, 2), rng.uniform(-2, 2, 2)
        W, c = net.layout.weight_view(net.params, 0), net.layout.bias_view(net.params, 0)
        za, zb = a @ W + c, b @ W + c
        t = np.sort((za / (za - zb))[(za > 0) != (zb > 0)])  # each line's crossing
        seg = segment_regions(net, a, b)
        assert seg.count == t.size + 1
        np.testing.assert_allclose(seg.t, t, rtol=0, atol=1e-12)
        assert np.all(seg.layer == 0)


def test_1d_input_breakpoints_are_minus_b_over_w():
    rng = np.random.default_rng(3)
    net = _net(rng, 1, [9])
    w, b = net.layout.weight_view(net.params, 0)[0], net.layout.bias_view(net.params, 0)
    x = -b / w
    seg = segment_regions(net, -1.5, 2.0)
    np.testing.assert_allclose(seg.points[:, 0], np.sort(x[(x > -1.5) & (x < 2.0)]), atol=1e-12)


def test_units_crossing_at_one_point_are_merged():
    """Zero biases: every first-layer unit crosses at the origin, one breakpoint."""
    net = _net(np.random.default_rng(1), 2, [8], sb=0.0)
    seg = segment_regions(net, [-1.0, -0.5], [1.0, 0.5])
    assert seg.count == 2 and abs(seg.t[0] - 0.5) < 1e-12


def test_count_is_breakpoints_plus_one_where_the_output_bends():
    """Kinks of the output found by dense second differences sit at the breakpoints, and a
    unit with no path to the output adds a region but no kink."""
    layout = Layout(1, [3])
    W1, b1 = np.array([[1.0, 1.0, -1.0]]), np.array([-0.5, 0.1, 0.3])
    for w_out, kinks in (([1.0, -2.0, 0.5], 3), ([1.0, 0.0, 0.5], 2)):
        P = layout.pack([(W1, b1), (np.array(w_out)[:, None], np.array([0.2]))])
        seg = segment_regions(Network(P, layout), -1.0, 1.0)
        assert seg.count == 4 and seg.n_pieces == kinks + 1
        x = np.linspace(-1, 1, 20001)
        y = Network(P, layout).forward(x[None, :])[1][-1]
        bend = np.nonzero(np.abs(np.diff(y, 2)) > 1e-9)[0]
        groups = np.split(bend, np.nonzero(np.diff(bend) > 1)[0] + 1) if bend.size else []
        assert len(groups) == kinks
        for g in groups:  # each detected kink lies on one of the exact breakpoints
            lo, hi = x[g[0]], x[g[-1] + 2]
            assert np.any((seg.points[:, 0] >= lo) & (seg.points[:, 0] <= hi))


# ----------------------------------------------------------------------------- deep nets

DEEP = [
    ("relu", 2, [10, 10, 10, 10], 0),
    ("relu", 3, [8] * 6, 2),
    ("relu", 2, [6] * 5, 1),
    ("leaky_relu", 2, [12, 7, 9], 0),
    ("leaky_relu", 2, [8] * 4, 2),
    ("relu", 1, [16] * 8, 0),
]


def _patterns(net, X):
    Z, _ = net.forward(X)
    return Z[: net.n_hidden_units] > 0, Z


@pytest.mark.parametrize("act,n_in,widths,r", DEEP)
def test_segment_regions_are_exact_for_deep_and_residual_nets(act, n_in, widths, r):
    rng = np.random.default_rng(len(widths) * 100 + n_in + r)
    net = _net(rng, n_in, widths, act, residual=r)
    a, b = rng.uniform(-2, -1, n_in), rng.uniform(1, 2, n_in)
    seg = segment_regions(net, a, b)
    e = seg.edges
    x = lambda t: a[:, None] + (b - a)[:, None] * np.asarray(t)[None, :]  # noqa: E731
    frac = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    t_in = (e[:-1, None] + (e[1:] - e[:-1])[:, None] * frac).ravel()  # 5 per piece
    pat, Z = _patterns(net, x(t_in))
    pat = pat.reshape(pat.shape[0], -1, frac.size)
    # nothing missed: one pattern throughout each piece
    assert np.all(pat == pat[:, :, 2:3])
    # every breakpoint is real: neighbouring pieces have different patterns
    assert np.all(np.any(pat[:, 1:, 2] != pat[:, :-1, 2], axis=0))
    # every pre-activation is affine on each piece (linear in t between its ends)
    _, Ze = _patterns(net, x(e))
    Z = Z.reshape(Z.shape[0], -1, frac.size)
    interp = Ze[:, :-1, None] * (1 - frac) + Ze[:, 1:, None] * frac
    assert np.max(np.abs(Z - interp)) <= 1e-9 * np.max(np.abs(Ze))
    # a dense sampling sees at most the exact count, and every piece wider than its step
    dense = np.linspace(0, 1, 200_001)
    p, _ = _patterns(net, x(dense))
    seen = 1 + np.count_nonzero(np.any(p[:, 1:] != p[:, :-1], axis=0))
    assert np.count_nonzero(np.diff(e) > 2 * dense[1]) <= seen <= seg.count
    # output slopes: finite differences inside the wider pieces
    y = net.forward(x(t_in))[1][-1].reshape(-1, frac.size)
    wide = np.diff(e) > 1e-6
    fd_slope = (y[:, 3] - y[:, 1]) / ((e[1:] - e[:-1]) * 0.4)
    scale = np.max(np.abs(seg.slopes))
    assert np.max(np.abs(fd_slope[wide] - seg.slopes[wide, 0])) <= 1e-6 * scale
    assert seg.count > 10 and 1 <= seg.n_pieces <= seg.count


def test_linear_networks_have_one_region():
    rng = np.random.default_rng(0)
    net = _net(rng, 2, [8, 8], "identity")
    assert segment_regions(net, [-1, -1], [1, 1]).count == 1
    assert grid_regions(net, SQUARE, 50).count == 1
    leaky_one = Network(net.params, net.layout, "leaky_relu", alpha=1.0)
    assert segment_regions(leaky_one, [-1, -1], [1, 1]).count == 1


@pytest.mark.parametrize("act,n_in,widths,r", [d for d in DEEP if d[1] == 2])
def test_grid_count_is_the_number_of_distinct_patterns(act, n_in, widths, r):
    """The hashed count equals distinct sign rows of the forward pass (the old way)."""
    rng = np.random.default_rng(9)
    net = _net(rng, 2, widths, act, residual=r)
    g = grid_regions(net, [[-2.0, 1.0], [-1.0, 1.5]], 150)
    gx, gy = np.meshgrid(g.xs, g.ys)
    pat, _ = _patterns(net, np.vstack([gx.ravel(), gy.ravel()]))
    _, inv = np.unique(pat, axis=1, return_inverse=True)
    assert g.count == inv.max() + 1 == g.sizes.size == g.ids.max() + 1
    assert g.sizes.sum() == 150 * 150 and g.ids.shape == (150, 150)
    # the same partition of the grid points, up to the labels
    pairs = np.unique(np.stack([g.ids.ravel(), inv.ravel()]), axis=1)
    assert pairs.shape[1] == g.count


def test_grid_on_a_plane_of_a_higher_dimensional_input():
    rng = np.random.default_rng(4)
    net = _net(rng, 3, [8, 8])
    o, u, v = np.array([0.1, 0.2, -0.3]), np.array([1.0, 0, 1.0]), np.array([0, 1.0, 0])
    g = grid_regions(net, SQUARE, 40, plane=(o, u, v))
    gx, gy = np.meshgrid(g.xs, g.ys)
    pts = o[:, None] + u[:, None] * gx.ravel() + v[:, None] * gy.ravel()
    pat, _ = _patterns(net, pts)
    assert g.count == np.unique(pat, axis=1).shape[1]
    with pytest.raises(ValueError, match=r"pass plane=\(origin, u, v\)"):
        grid_regions(net, SQUARE, 40)
    with pytest.raises(ValueError, match="linearly independent"):
        grid_regions(net, SQUARE, 40, plane=(o, u, 2 * u))


def test_bad_arguments():
    net = _net(np.random.default_rng(0), 2, [4])
    with pytest.raises(ValueError, match="window must be"):
        grid_regions(net, [[1, -1], [0, 1]])
    with pytest.raises(ValueError, match="resolution must be an integer >= 2"):
        grid_regions(net, SQUARE, 1)
    with pytest.raises(ValueError, match="same point"):
        segment_regions(net, [0, 0], [0, 0])
    with pytest.raises(ValueError, match="start must be 2 finite"):
        segment_regions(net, [0, 0, 0], [1, 1])
    with pytest.raises(TypeError, match="Network.from_store"):
        as_network("runs/x")
    with pytest.raises(ValueError, match="expected a vector of|must have shape"):
        Network(np.zeros(3), Layout(2, [4]))


# ----------------------------------------------------------------------------- sources


def test_run_results_configs_and_stores_give_the_same_network(tmp_path):
    cfg = fd.RunConfig(dataset="circle", depth=2, width=6, epochs=30, n_train=64, n_test=16)
    res = fd.train(cfg)
    final = Network.from_run(res)
    np.testing.assert_array_equal(final.params, cfg.layout().pack(res.final_params))
    assert as_network(res).params.tobytes() == final.params.tobytes()
    assert as_network((cfg, res.initial_params)).params.tobytes() == (
        as_network(res, "initial").params.tobytes()
    )
    a, b = [-1.5, -1.5], [1.5, 1.5]
    assert segment_regions(res, a, b).count == segment_regions(final, a, b).count
    out = tmp_path / "store"
    assert sweep.main(["--datasets", "circle", "--depths", "1,2", "--widths", "4", "--epochs",
                       "10", "--n-train", "32", "--n-test", "16", "--threads", "1", "--quiet",
                       "--out", str(out)]) == 0  # fmt: skip
    run = fd.load(out).iloc[1]
    net = Network.from_store(out, run.run_id)
    assert net.layout.widths == (4,) * int(run.depth)
    flat = net.layout.pack(fd.store.load_params(out, run.run_id)).astype(np.float64)
    np.testing.assert_array_equal(net.params, flat)
    with pytest.raises(KeyError):
        Network.from_store(out, "0" * 16)


def test_region_maps_figure():
    rng = np.random.default_rng(0)
    nets = [_net(rng, 2, [8]), _net(rng, 2, [4, 4])]
    maps = [grid_regions(n, SQUARE, 60) for n in nets]
    segs = [segment_regions(n, [-1, -1], [1, 1]) for n in nets]
    fig = region_maps(maps, segments=segs, suptitle="two nets")
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 2
    assert "regions" in fig.axes[0].get_title() and "exact" in fig.axes[0].get_title()
    fig = region_maps(maps + maps[:1], ncols=2, titles=["a", "b", "c"])
    assert len(fig.axes) == 4 and not fig.axes[3].axison
    with pytest.raises(ValueError, match="one entry per map"):
        region_maps(maps, titles=["a"])
