"""Linear regions of piecewise-linear networks: exact along a segment, estimated on a 2-D grid.

A network whose activation is piecewise linear (``ACTIVATIONS.where(piecewise_linear=True)``:
identity, relu, leaky_relu), plain or residual, is affine on each *activation region*: a set
of inputs that puts every hidden unit on the same linear piece of its activation (for ReLU,
the same on/off pattern). Each such set is convex, so a pattern is one connected region.
Counting them is how depth's expressive power is usually measured (Montufar et al. 2014;
Hanin & Rolnick 2019, arXiv 1901.09021, who count regions along lines and in 2-D slices).

- :func:`segment_regions` is **exact** along a segment ``x(t) = start + t (end - start)``,
  ``t in [0, 1]``: layer by layer it evaluates the network at the breakpoints found so far
  (between two of them every unit of the layers below is affine in ``t``) and adds the points
  where a unit of this layer crosses a breakpoint of its activation, by linear interpolation,
  which is exact there. Nothing is sampled. Breakpoints closer than ``tol`` (in ``t``) are
  merged (units that cross at the same point, e.g. the origin with zero biases).
- :func:`grid_regions` is an **estimate** on a 2-D window: the number of distinct activation
  patterns among ``resolution x resolution`` grid points (the compiled
  :func:`fastdepth.kernels.pattern_hashes`). It is a lower bound on the regions meeting the
  window (a region no grid point falls in is missed), and grows to the true count as the
  resolution grows; ``GridRegions.singletons`` (regions seen at one point only) says how far
  from converged it is.

Cost (``docs/analysis.md``, measured with
``python -m pytest bench/test_bench_regions.py``): for a depth-8,
width-16 ReLU net on the 2-core reference machine, a 1000 x 1000 grid takes about 0.2 s
(nearly all of it hashing 10^6 points) and the exact count along a diagonal about 0.4 ms.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kernels
from .network import Network, activation_cuts, as_network

__all__ = ["GridRegions", "SegmentRegions", "grid_regions", "segment_regions"]

_POINTS_PER_CALL = 1 << 18  # grid points per pattern_hashes call: X stays 4 MiB in 2-D


# ---------------------------------------------------------------------------- 1-D, exact


@dataclass(frozen=True, eq=False)
class SegmentRegions:
    """The activation regions a segment crosses, exactly.

    Attributes
    ----------
    start, end : ndarray of float64, shape (n_in,)
        The segment ``x(t) = start + t (end - start)``, ``0 <= t <= 1``.
    t : ndarray of float64, shape (k,)
        Breakpoints strictly inside ``(0, 1)``, increasing: where some hidden unit's
        pre-activation crosses a breakpoint of its activation.
    layer : ndarray of int64, shape (k,)
        Hidden layer (0-based) of the lowest unit crossing at each breakpoint.
    slopes : ndarray of float64, shape (k + 1, n_out)
        ``d output / dt`` on each piece (from the input gradient at its midpoint).
    tol : float
        Breakpoints closer than this in ``t`` were merged.
    """

    start: np.ndarray
    end: np.ndarray
    t: np.ndarray
    layer: np.ndarray
    slopes: np.ndarray
    tol: float

    @property
    def count(self) -> int:
        """Number of activation regions along the segment: ``len(t) + 1``."""
        return int(self.t.size + 1)

    @property
    def points(self) -> np.ndarray:
        """Breakpoints in input space, shape (k, n_in)."""
        return self.start + self.t[:, None] * (self.end - self.start)

    @property
    def edges(self) -> np.ndarray:
        """``[0, t..., 1]``, shape (k + 2,): the pieces are ``[edges[i], edges[i + 1]]``."""
        return np.concatenate([[0.0], self.t, [1.0]])

    @property
    def n_pieces(self) -> int:
        """Linear pieces of the network's *output* along the segment (<= :attr:`count`).

        Adjacent regions whose output slopes agree to ``1e-9`` of the largest slope are one
        piece: a unit's breakpoint need not bend the output (e.g. behind a dead layer).
        """
        if self.t.size == 0:
            return 1
        jump = np.max(np.abs(np.diff(self.slopes, axis=0)), axis=1)
        scale = float(np.max(np.abs(self.slopes)))
        return int(1 + np.count_nonzero(jump > 1e-9 * scale))


def _endpoint(x: Any, n_in: int, name: str) -> np.ndarray:
    a = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if a.shape != (n_in,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be {n_in} finite coordinate(s), got {np.asarray(x)!r}")
    return a


def _merge(t: np.ndarray, layer: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``t`` with points closer than ``tol`` merged; 0 and 1 stay exact."""
    order = np.lexsort((layer, t))
    t, layer = t[order], layer[order]
    keep = np.concatenate([[True], np.diff(t) > tol])
    group = np.cumsum(keep) - 1
    lay = np.full(int(group[-1]) + 1, np.iinfo(np.int64).max)
    np.minimum.at(lay, group, layer)
    t = t[keep]  # each cluster is represented by its smallest t
    t[-1] = 1.0  # the last cluster holds 1 (t[0] is 0: nothing sorts before it)
    return t, lay


def segment_regions(net: Any, start: Any, end: Any, *, tol: float = 1e-9) -> SegmentRegions:
    """Exact activation regions of a piecewise-linear network along a segment.

    Parameters
    ----------
    net : Network, RunResult or (RunConfig, params)
        See :func:`~fastdepth.analysis.network.as_network` (a RunResult's final parameters).
    start, end : array_like, shape (n_in,)
        End points (a scalar for 1-D input).
    tol : float
        Breakpoints closer than ``tol`` in ``t`` (fraction of the segment) are one.

    Returns
    -------
    SegmentRegions
        ``.count`` regions, the breakpoints ``.t`` and the output slope on each piece.

    Raises
    ------
    ValueError
        For an activation that is not piecewise linear (tanh, ...), or a degenerate segment.
    """
    net = as_network(net)
    cuts = activation_cuts(net.activation, net.alpha)
    a = _endpoint(start, net.n_in, "start")
    b = _endpoint(end, net.n_in, "end")
    if np.array_equal(a, b):
        raise ValueError("start and end are the same point; a segment needs two")
    if not 0.0 <= tol < 0.5:
        raise ValueError(f"tol must be in [0, 0.5), got {tol}")
    T = np.array([0.0, 1.0])
    layer = np.array([-1, -1], dtype=np.int64)
    for k in range(net.layout.depth if cuts.size else 0):
        Z, _ = net.forward(a[:, None] + (b - a)[:, None] * T)
        zk = Z[net.hidden_rows(k)]
        found = []
        for c in cuts:
            d = zk - c
            on = d > 0
            u, i = np.nonzero(on[:, :-1] != on[:, 1:])
            d0, d1 = d[u, i], d[u, i + 1]
            found.append(T[i] + (T[i + 1] - T[i]) * (d0 / (d0 - d1)))
        new = np.concatenate(found)
        T, layer = _merge(
            np.concatenate([T, new]), np.concatenate([layer, np.full(new.size, k)]), tol
        )
    mids = 0.5 * (T[1:] + T[:-1])
    grad = net.input_gradient(a[:, None] + (b - a)[:, None] * mids)  # (n_out, n_in, pieces)
    slopes = np.einsum("oip,i->po", grad, b - a)
    return SegmentRegions(a, b, T[1:-1].copy(), layer[1:-1].copy(), slopes, float(tol))


# ---------------------------------------------------------------------------- 2-D, estimate


@dataclass(frozen=True, eq=False)
class GridRegions:
    """Activation regions seen on a grid over a 2-D window (an estimate; see the module).

    Attributes
    ----------
    window : ndarray of float64, shape (2, 2)
        ``[[x_lo, x_hi], [y_lo, y_hi]]`` in the plane's coordinates.
    xs, ys : ndarray of float64, shape (resolution,)
        Grid coordinates, ends included (``np.linspace``).
    hashes : ndarray of uint64, shape (resolution, resolution)
        :func:`fastdepth.kernels.pattern_hashes` of every grid point, ``hashes[iy, ix]``.
    count : int
        Distinct activation patterns on the grid: the estimate of the region count.
    """

    window: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    hashes: np.ndarray
    count: int

    @functools.cached_property
    def _labels(self) -> tuple[np.ndarray, np.ndarray]:
        _, ids, sizes = np.unique(self.hashes, return_inverse=True, return_counts=True)
        return ids.reshape(self.hashes.shape).astype(np.int64), sizes.astype(np.int64)

    @property
    def ids(self) -> np.ndarray:
        """Region label of every grid point, int64 ``(resolution, resolution)``, ``[iy, ix]``.

        ``imshow(ids, origin='lower')`` draws it the right way up; labels are
        ``0 .. count - 1`` in no particular order. Computed on first use (a sort).
        """
        return self._labels[0]

    @property
    def sizes(self) -> np.ndarray:
        """Grid points per region, int64 ``(count,)``, indexed by the labels of :attr:`ids`."""
        return self._labels[1]

    @property
    def resolution(self) -> int:
        return int(self.xs.size)

    @property
    def singletons(self) -> int:
        """Regions met by one grid point only (many of them: the grid is too coarse)."""
        return int(np.count_nonzero(self.sizes == 1))


def _plane(net: Network, plane: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = net.n_in
    if plane is None:
        if n != 2:
            raise ValueError(
                f"the network has {n} input(s): pass plane=(origin, u, v), each of {n} "
                "coordinates, for the grid points origin + x u + y v"
            )
        return np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0])
    if len(plane) != 3:
        raise ValueError("plane must be (origin, u, v)")
    o, u, v = (_endpoint(p, n, name) for p, name in zip(plane, ("origin", "u", "v"), strict=True))
    if np.linalg.matrix_rank(np.stack([u, v])) < 2:
        raise ValueError("plane directions u and v must be linearly independent")
    return o, u, v


def grid_regions(net: Any, window: Any, resolution: int = 400, *, plane: Any = None) -> GridRegions:
    """Estimate the activation regions in a 2-D window by hashing patterns on a grid.

    Parameters
    ----------
    net : Network, RunResult or (RunConfig, params)
        See :func:`~fastdepth.analysis.network.as_network`.
    window : array_like, shape (2, 2)
        ``[[x_lo, x_hi], [y_lo, y_hi]]``, e.g. :func:`fastdepth.datasets.bounding_box`.
    resolution : int >= 2
        Grid points per axis (``resolution ** 2`` in all).
    plane : (origin, u, v), optional
        For ``n_in != 2``: the grid point ``(x, y)`` is the input ``origin + x u + y v``.

    Returns
    -------
    GridRegions
        ``.count`` (the estimate); the region map ``.ids`` and the points per region
        ``.sizes`` are computed when first asked for.

    Raises
    ------
    ValueError
        For an activation that is not piecewise linear, or a bad window / resolution.
    """
    net = as_network(net)
    cuts = activation_cuts(net.activation, net.alpha)
    w = np.asarray(window, dtype=np.float64)
    if w.shape != (2, 2) or not np.all(np.isfinite(w)) or np.any(w[:, 1] <= w[:, 0]):
        raise ValueError(f"window must be [[x_lo, x_hi], [y_lo, y_hi]] with lo < hi, got {window}")
    if int(resolution) != resolution or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution}")
    n = int(resolution)
    o, u, v = _plane(net, plane)
    xs = np.linspace(w[0, 0], w[0, 1], n)
    ys = np.linspace(w[1, 0], w[1, 1], n)
    hashes = np.empty(n * n, dtype=np.uint64)
    rows = max(1, _POINTS_PER_CALL // n)
    for r0 in range(0, n, rows):
        gx, gy = np.meshgrid(xs, ys[r0 : r0 + rows])  # y slow, x fast: ids[iy, ix]
        X = o[:, None] + u[:, None] * gx.ravel() + v[:, None] * gy.ravel()
        kernels.pattern_hashes(
            net.params, net.layout, np.ascontiguousarray(X), cuts, net.activation,
            alpha=net.alpha, residual=net.residual, out=hashes[r0 * n : r0 * n + gx.size],
        )  # fmt: skip
    return GridRegions(w, xs, ys, hashes.reshape(n, n), int(np.unique(hashes).size))
