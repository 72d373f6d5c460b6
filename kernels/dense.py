"""Dense layers of a whole network over a block of samples, forward and backward.

Buffers are flat and feature-major: unit ``u`` of the network (hidden layers in
order, then the output) owns ``buf[u*n : (u+1)*n]``, one value per sample. The
unrolled micro-kernels of ``_micro.py`` cover whole sample blocks
(``settings.SAMPLE_BLOCK``); plain loops here finish the ragged tail, so any
sample count works, including 1.

Residual connections (``rblock = r > 0``): hidden layer 0 maps the input to the
width and is never skipped; hidden layers ``1..`` form blocks of ``r``; the input
of a block is added to the pre-activation of its last layer, ``h_e = act(z_e +
h_{e-r})`` for every ``e`` with ``e % r == 0`` and ``1 <= e - r + 1``. ``r = 2``
gives the classic ``relu(x + W2 relu(W1 x))``.
"""

from __future__ import annotations

import numpy as np

from ._fma import fma
from ._jit import njit
from ._micro import (
    SB,
    affine_r1_l8,
    affine_r1_l16,
    affine_r4_l8,
    affine_r4_l16,
    rowsum,
)
from .activations import apply_activation, scale_by_derivative
from .settings import CHUNK_SAMPLES

# 16-wide column blocks per chunk: a chunk of inputs stays in L1 while every row
# block uses it, instead of streaming all columns from L2 once per row block.
CHUNK = max(1, CHUNK_SAMPLES // SB)


# Integer constants as typed values, not literals: a literal argument makes Numba
# compile a separate specialisation of ``affine`` per call site (3x the compile time).
I0 = np.int64(0)
I1 = np.int64(1)


@njit(inline="always")
def skip_source(k, n_hidden, rblock):
    """Hidden layer whose output is added to hidden layer ``k``'s pre-activation, or -1."""
    if rblock > 0 and k >= rblock and k % rblock == 0 and k < n_hidden:
        return k - rblock
    return -1


@njit(inline="always")
def unit_offset(table, k):
    """First unit (row) of layer ``k`` in the activation buffers."""
    u = 0
    for m in range(k):
        u += table[m, 1]
    return u


@njit
def affine(P, wo, rs, cs, nrows, nred, bo, mode, X, xo, Y, yo, n):
    """``Y[r, c] = init + sum_q P[wo + r*rs + q*cs] X[q, c]`` for ``r < nrows``, ``c < n``.

    ``X`` and ``Y`` are row-major with ``n`` columns. ``mode`` 0 starts from the bias
    ``P[bo + r]``, 1 from zero. ``rs, cs = 1, fan_out`` is the
    forward ``W^T h``; ``fan_out, 1`` is the input gradient ``W d``. Columns go in
    16-wide blocks, then one 8-wide block, then a scalar tail (< 8).
    """
    n16 = n // 16
    for b0 in range(0, n16, CHUNK):
        nb = min(CHUNK, n16 - b0)
        r = 0
        while r + 4 <= nrows:
            affine_r4_l16(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, b0 * 16, nb)
            r += 4
        while r < nrows:
            affine_r1_l16(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, b0 * 16, nb)
            r += 1
    c = n16 * 16
    if n - c >= 8:
        r = 0
        while r + 4 <= nrows:
            affine_r4_l8(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, c, I1)
            r += 4
        while r < nrows:
            affine_r1_l8(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, c, I1)
            r += 1
        c += 8
    zero = P.dtype.type(0)
    for r in range(nrows):
        for s in range(c, n):
            acc = P[bo + r] if mode == 0 else zero
            for q in range(nred):
                acc = fma(P[wo + r * rs + q * cs], X[xo + q * n + s], acc)
            Y[yo + r * n + s] = acc


@njit(inline="always")
def transpose_rows(D, do, rows, n, DT):
    """``DT[s * rows + j] = D[do + j * n + s]``: feature-major rows to sample-major."""
    for s0 in range(0, n - n % 8, 8):
        for j in range(rows):
            src = D[do + j * n + s0 : do + j * n + s0 + 8]
            for t in range(8):
                DT[(s0 + t) * rows + j] = src[t]
    for s in range(n - n % 8, n):
        for j in range(rows):
            DT[s * rows + j] = D[do + j * n + s]


@njit
def weight_grad(X, xo, D, do, n, G, wo, bo, fi, fo, DT):
    """``G[W] = X D^T`` (fan_in x fan_out) and ``G[b] = sum_s D`` over ``n`` samples.

    ``D`` is transposed into the scratch ``DT`` (at least ``n * fo``) so that the
    product is the same broadcast-and-FMA kernel as the forward pass, with the
    output units as vector lanes and a sequential sum over samples per entry.
    """
    transpose_rows(D, do, fo, n, DT)
    affine(X, xo, n, I1, fi, n, I0, I1, DT, I0, G, wo, fo)
    nblk = n // SB
    for j in range(fo):
        rowsum(D, do, n, nblk, j, G, bo + j)
    tail = nblk * SB
    if tail < n:
        for j in range(fo):
            acc = G[bo + j]
            for s in range(tail, n):
                acc += D[do + j * n + s]
            G[bo + j] = acc


@njit
def forward_flat(P, table, X, Z, H, n, act, alpha, rblock):
    """Forward pass of one network; see :func:`fastdepth.kernels.forward`."""
    nl = table.shape[0]
    n_hidden = nl - 1
    row = 0
    prev = 0
    for k in range(nl):
        fi = table[k, 0]
        fo = table[k, 1]
        wo = table[k, 2]
        bo = table[k, 3]
        # One call site: every extra one is another inlined copy for LLVM to compile.
        src_buf = X if k == 0 else H
        src_off = 0 if k == 0 else prev * n
        affine(P, wo, I1, fo, fo, fi, bo, I0, src_buf, src_off, Z, row * n, n)
        if k < n_hidden:
            src = skip_source(k, n_hidden, rblock)
            if src >= 0:
                so = unit_offset(table, src) * n
                for i in range(fo * n):
                    Z[row * n + i] += H[so + i]
            apply_activation(Z, row * n, H, row * n, fo * n, act, alpha)
        else:
            for i in range(fo * n):
                H[row * n + i] = Z[row * n + i]
        prev = row
        row += fo


@njit
def backward_flat(P, table, X, Z, H, dout, n, act, alpha, rblock, grad, D):
    """Backward pass of one network; see :func:`fastdepth.kernels.backward`."""
    nl = table.shape[0]
    n_hidden = nl - 1
    out_row = unit_offset(table, n_hidden)
    n_out = table[n_hidden, 1]
    max_fo = 0
    for k in range(nl):
        max_fo = max(max_fo, table[k, 1])
    # Scratch for the transposed dL/dz (weight gradients) and for W d when it must be
    # added to a skip contribution: fan_in of a layer <= max fan_out or n_in.
    DT = np.empty(max(max_fo, table[0, 0]) * n, D.dtype)
    for i in range(n_out * n):
        D[out_row * n + i] = dout[i]
    for k in range(nl - 1, -1, -1):
        fi = table[k, 0]
        fo = table[k, 1]
        wo = table[k, 2]
        bo = table[k, 3]
        row = unit_offset(table, k)
        if k < n_hidden:
            # D holds dL/dh_k, complete now that every layer above is done.
            scale_by_derivative(Z, row * n, D, row * n, fo * n, act, alpha)
            src = skip_source(k, n_hidden, rblock)
            if src >= 0:
                # A skip is the first contribution its source receives (its block
                # end lies above the layer that feeds it through W), so copy.
                so = unit_offset(table, src) * n
                for i in range(fo * n):
                    D[so + i] = D[row * n + i]
        prev = row - fi
        src_buf = X if k == 0 else H
        src_off = 0 if k == 0 else prev * n
        weight_grad(src_buf, src_off, D, row * n, n, grad, wo, bo, fi, fo, DT)
        if k > 0:
            below = k - 1
            if rblock > 0 and skip_source(below + rblock, n_hidden, rblock) == below:
                # dL/dh_below already holds its skip contribution: add W d to it.
                affine(P, wo, fo, I1, fi, fo, I0, I1, D, row * n, DT, I0, n)
                for i in range(fi * n):
                    D[prev * n + i] += DT[i]
            else:
                affine(P, wo, fo, I1, fi, fo, I0, I1, D, row * n, D, prev * n, n)
