"""Activation-pattern hashes: which linear region of a piecewise-linear network a point is in.

A network whose activation is linear between the breakpoints ``cuts`` (for ReLU and leaky
ReLU, the single cut 0) is affine on every set of inputs that puts each hidden unit on the
same linear piece; for a plain or residual fully connected network each such set is
convex (given the pieces, every pre-activation is affine in the input, and the set is an
intersection of half-spaces), so distinct patterns are distinct connected regions.
:func:`pattern_hashes` gives every input point one 64-bit hash of its pattern; counting
distinct hashes over a grid estimates the number of regions (see
:mod:`fastdepth.analysis.regions`).

The pattern of a point: unit ``u`` (hidden units in buffer order, layer 0 first) is on
piece ``p_u = #{c in cuts : z_u > c}`` (so with ``cuts = [0]`` a unit is active iff
``z_u > 0``, the mask of the ReLU derivative). Each ``p_u`` takes ``B =
len(cuts).bit_length()`` bits, packed little-endian from bit ``u * B`` on into 64-bit
words ``w_0, w_1, ...`` (at least one word, zero-padded). The hash is ``h = 0``, then
``h = splitmix64(h ^ w_j)`` for each word in order. SplitMix64's finaliser is a
bijection of uint64, so with at most 64 pattern bits (64 ReLU units) equal hashes mean
equal patterns; beyond that two of ``R`` regions collide with probability about
``R**2 / 2**65`` (1e-10 for 10^5 regions).

The forward pass is the compiled :func:`~fastdepth.kernels.dense.forward_flat`, run on
blocks of :data:`BLOCK` points so that memory stays ``O(n_units * BLOCK)`` however many
points there are; each point's pre-activations are the bits :func:`fastdepth.kernels.forward`
gives for it (the dense kernels compute every sample with the same FMA sequence whatever
its neighbours).
"""

from __future__ import annotations

import numpy as np

from . import _validate as v
from ._jit import njit
from .api import _table
from .buffers import zeros_aligned
from .dense import I1, forward_flat
from .layout import Layout
from .shuffle import splitmix64

BLOCK = 512  # points per forward call: 129 units x 512 x 8 B = 0.5 MiB of Z and H
MAX_CUTS = 7  # breakpoints per activation the hash takes (3 bits per unit)

_ZERO = np.uint64(0)
_ONE = np.uint64(1)


def check_pattern_hashes(params, layout, X, cuts, activation, alpha, residual, out):
    """Validate :func:`pattern_hashes` arguments; return ``(n, code, alpha, r, cuts, out)``.

    Shared by the compiled kernel and its reference twin.
    """
    layout = v.layout_arg(layout)
    n = v.samples(layout, X, params)
    code, a = v.activation_code(activation, alpha)
    r = v.residual_arg(layout, residual)
    c = np.asarray(cuts, dtype=np.float64)
    if c.ndim != 1 or c.shape[0] > MAX_CUTS:
        raise ValueError(
            f"cuts must be a 1-D array of at most {MAX_CUTS} breakpoints, got shape {c.shape}"
        )
    if not np.all(np.isfinite(c)) or np.any(np.diff(c) <= 0):
        raise ValueError(f"cuts must be finite and strictly increasing, got {c.tolist()}")
    if out is None:
        out = np.empty(n, dtype=np.uint64)
    elif (
        not isinstance(out, np.ndarray)
        or out.dtype != np.uint64
        or out.shape != (n,)
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        raise ValueError(f"out must be a writeable C-contiguous uint64 array of shape ({n},)")
    return n, code, a, r, np.ascontiguousarray(c), out


@njit
def pattern_hashes_flat(P, table, X, n, cuts, act, alpha, rblock, out):
    """Hash of every point's activation pattern; see :func:`pattern_hashes`.

    ``X`` is flat feature-major ``n_in x n``; ``out`` (uint64, ``n``) receives the hashes.
    """
    nl = table.shape[0]
    n_in = table[0, 0]
    n_units = 0
    for k in range(nl):
        n_units += table[k, 1]
    n_hid = n_units - table[nl - 1, 1]
    m = cuts.shape[0]
    bits = 0
    while (1 << bits) <= m:
        bits += 1
    ld = np.int64(BLOCK)  # typed, as below: a literal is another compile of forward_flat
    Xb = zeros_aligned(n_in * ld, P)
    Z = zeros_aligned(n_units * ld, P)
    H = zeros_aligned(n_units * ld, P)
    piece = np.zeros(ld, np.uint64)
    word = np.zeros(ld, np.uint64)
    h = np.zeros(ld, np.uint64)
    for s0 in range(0, n, ld):
        nb = min(ld, n - s0)
        for q in range(n_in):
            for s in range(nb):
                Xb[q * ld + s] = X[q * n + s0 + s]
        forward_flat(P, table, Xb, Z, H, nb, ld, act, alpha, rblock, I1)
        for s in range(nb):
            h[s] = _ZERO
            word[s] = _ZERO
        pos = 0
        for u in range(n_hid):
            zu = Z[u * ld : u * ld + nb]
            for s in range(nb):
                p = _ZERO
                for c in range(m):
                    p += _ONE if zu[s] > cuts[c] else _ZERO
                piece[s] = p
            for b in range(bits):
                sh = np.uint64(pos)
                bb = np.uint64(b)
                for s in range(nb):
                    word[s] |= ((piece[s] >> bb) & _ONE) << sh
                pos += 1
                if pos == 64:
                    for s in range(nb):
                        h[s] = splitmix64(h[s] ^ word[s])
                        word[s] = _ZERO
                    pos = 0
        if pos > 0 or n_hid * bits == 0:
            for s in range(nb):
                h[s] = splitmix64(h[s] ^ word[s])
        for s in range(nb):
            out[s0 + s] = h[s]


def pattern_hashes(
    params: np.ndarray,
    layout: Layout,
    X: np.ndarray,
    cuts: np.ndarray,
    activation: str = "relu",
    *,
    alpha: float | None = None,
    residual: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """64-bit hash of the activation pattern of every input point.

    Parameters
    ----------
    params : ndarray, shape (layout.n_params,), float32 or float64
    layout : Layout
    X : ndarray, shape (layout.n_in, n), same dtype
        Points, feature-major.
    cuts : array_like of float, shape (m,), m <= MAX_CUTS
        Breakpoints of the activation in pre-activation units, strictly increasing
        (``[0.0]`` for relu / leaky_relu, ``[]`` for a linear activation: every point then
        gets the same hash).
    activation, alpha, residual
        As in :func:`fastdepth.kernels.forward`.
    out : ndarray of uint64, shape (n,), optional
        Output buffer.

    Returns
    -------
    ndarray of uint64, shape (n,)
        Equal patterns give equal hashes; the encoding is in the module docstring.
    """
    n, code, a, r, c, out = check_pattern_hashes(
        params, layout, X, cuts, activation, alpha, residual, out
    )
    pattern_hashes_flat(v.writable(params), _table(layout), v.writable(X).reshape(-1), n, c,
                        code, a, r, out)  # fmt: skip
    return out
