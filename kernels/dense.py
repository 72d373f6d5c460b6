"""Dense layers of a whole network over a block of samples, forward and backward.

Buffers are flat and feature-major: unit ``u`` of the network (hidden layers in
order, then the output) owns ``buf[u*n : (u+1)*n]``, one value per sample. The
vector micro-kernels of ``_vec.py`` cover whole sample blocks
(``settings.SAMPLE_BLOCK``); plain loops here finish the ragged tail, so any
sample count works, including 1. With ReLU, the activation (forward) and its mask
(backward) are fused into the stores of the affine products instead of separate passes.

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
from ._micro import SB, rowsum
from ._vec import LN, LW, ROWS, block_narrow, block_wide, row_narrow, row_wide
from .activations import RELU, apply_activation, scale_by_derivative
from .settings import CHUNK_SAMPLES

# LW-wide column blocks per chunk: a chunk of inputs stays in L1 while every row
# block uses it, instead of streaming all columns from L2 once per row block.
CHUNK = max(1, CHUNK_SAMPLES // LW)


# Integer constants as typed values, not literals: a literal argument makes Numba
# compile a separate specialisation of ``affine`` per call site (3x the compile time).
I0 = np.int64(0)
I1 = np.int64(1)
I2 = np.int64(2)


@njit(inline="always")
def skip_source(k, n_hidden, rblock):
    """Hidden layer whose output is added to hidden layer ``k``'s pre-activation, or -1."""
    if rblock > 0 and k >= rblock and k % rblock == 0 and k < n_hidden:
        return k - rblock
    return -1


@njit(inline="always")
def relu_fused_below(k, n_hidden, rblock, act):
    """Whether hidden layer ``k``'s dL/dz comes masked from the input-gradient store."""
    return act == RELU and not (rblock > 0 and skip_source(k + rblock, n_hidden, rblock) == k)


@njit(inline="always")
def unit_offset(table, k):
    """First unit (row) of layer ``k`` in the activation buffers."""
    u = 0
    for m in range(k):
        u += table[m, 1]
    return u


@njit
def affine(P, wo, rs, cs, nrows, nred, bo, mode, X, xo, Y, yo, n, E, eo, emode):
    """``Y[r, c] = init + sum_q P[wo + r*rs + q*cs] X[q, c]`` for ``r < nrows``, ``c < n``.

    ``X`` and ``Y`` are row-major with ``n`` columns. ``mode`` 0 starts from the bias
    ``P[bo + r]``, 1 from zero. ``rs, cs = 1, fan_out`` is the
    forward ``W^T h``; ``fan_out, 1`` is the input gradient ``W d``. Columns go in
    ``LW``-wide blocks (16), then one ``LN``-wide block (8), then a scalar tail; rows in
    blocks of ``ROWS`` (8), then one at a time.

    ``emode`` fuses a ReLU into the store (``E`` has ``Y``'s layout from ``eo``): 0 none,
    1 also writes ``E = relu(Y)``, 2 writes ``Y`` masked by ``E > 0`` (ReLU backward).
    """
    nw = n // LW
    for b0 in range(0, nw, CHUNK):
        nb = min(CHUNK, nw - b0)
        r = 0
        while r + ROWS <= nrows:
            block_wide(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, b0 * LW, nb, E, eo, emode)
            r += ROWS
        while r < nrows:
            row_wide(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, b0 * LW, nb, E, eo, emode)
            r += 1
    c = nw * LW
    if n - c >= LN:
        r = 0
        while r + ROWS <= nrows:
            block_narrow(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, c, I1, E, eo, emode)
            r += ROWS
        while r < nrows:
            row_narrow(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, c, I1, E, eo, emode)
            r += 1
        c += LN
    for s in range(c, n):
        r = 0
        while r < nrows:
            acc = P[bo + r] if mode == 0 else P.dtype.type(0)
            for q in range(nred):
                acc = fma(P[wo + r * rs + q * cs], X[xo + q * n + s], acc)
            store_out(Y, yo + r * n + s, E, eo + r * n + s, emode, acc)
            r += 1


@njit(inline="always")
def store_out(Y, yi, E, ei, emode, acc):
    """Scalar twin of the micro-kernels' store (``emode`` as in :func:`affine`)."""
    if emode == 2:
        acc = acc if E[ei] > 0 else acc * 0
    elif emode == 1:
        E[ei] = acc if acc > 0 else acc * 0
    Y[yi] = acc


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
    affine(X, xo, n, I1, fi, n, I0, I1, DT, I0, G, wo, fo, G, I0, I0)
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
        src = skip_source(k, n_hidden, rblock) if k < n_hidden else -1
        # ReLU without a skip add is fused into the affine store (emode 1).
        fuse = k < n_hidden and act == RELU and src < 0
        emode = I1 if fuse else I0
        affine(P, wo, I1, fo, fo, fi, bo, I0, src_buf, src_off, Z, row * n, n, H, row * n, emode)
        if k < n_hidden and not fuse:
            if src >= 0:
                so = unit_offset(table, src) * n
                for i in range(fo * n):
                    Z[row * n + i] += H[so + i]
            apply_activation(Z, row * n, H, row * n, fo * n, act, alpha)
        elif k == n_hidden:
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
            # D holds dL/dh_k, complete now that every layer above is done, and already
            # dL/dz_k when the ReLU mask was fused into the store of ``W d`` (emode 2).
            if not relu_fused_below(k, n_hidden, rblock, act):
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
                affine(P, wo, fo, I1, fi, fo, I0, I1, D, row * n, DT, I0, n, DT, I0, I0)
                for i in range(fi * n):
                    D[prev * n + i] += DT[i]
            else:
                emode = I2 if relu_fused_below(below, n_hidden, rblock, act) else I0
                affine(
                    P, wo, fo, I1, fi, fo, I0, I1, D, row * n, D, prev * n, n, Z, prev * n, emode
                )
