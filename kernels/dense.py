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

from ._jit import njit
from ._micro import (
    SB,
    WG_LANES,
    affine_rows1,
    affine_rows4,
    rowsum,
    wgrad_cols,
    wgrad_one,
    wgrad_rows,
    wgrad_tile,
)
from .activations import apply_activation, scale_by_derivative
from .settings import CHUNK_SAMPLES, WGRAD_BLOCK

WG_I, WG_J = WGRAD_BLOCK
# Sample blocks per chunk: a chunk of inputs stays in L1 while every row block
# (or weight tile) uses it, instead of streaming all samples from L2 per row block.
CHUNK = max(1, CHUNK_SAMPLES // SB)


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
    """``Y[r, s] = init + sum_q P[wo + r*rs + q*cs] X[q, s]`` for ``r < nrows``, ``s < n``.

    ``mode`` 0 starts from the bias ``P[bo + r]``, 1 from zero, 2 from ``Y`` itself.
    ``rs, cs = 1, fan_out`` is the forward ``W^T h``; ``fan_out, 1`` is ``W d``.
    """
    nblk = n // SB
    for b0 in range(0, nblk, CHUNK):
        b1 = min(b0 + CHUNK, nblk)
        r = 0
        while r + 4 <= nrows:
            affine_rows4(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, b0, b1)
            r += 4
        while r < nrows:
            affine_rows1(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, n, b0, b1)
            r += 1
    zero = P.dtype.type(0)
    for r in range(nrows):
        for s in range(nblk * SB, n):
            if mode == 0:
                acc = P[bo + r]
            elif mode == 1:
                acc = zero
            else:
                acc = Y[yo + r * n + s]
            for q in range(nred):
                acc += P[wo + r * rs + q * cs] * X[xo + q * n + s]
            Y[yo + r * n + s] = acc


@njit
def weight_grad(X, xo, D, do, n, G, wo, bo, fi, fo):
    """``G[W] = X D^T`` (fan_in x fan_out) and ``G[b] = sum_s D`` over ``n`` samples."""
    nblk = n // SB
    acc = np.empty(fi * fo * WG_LANES, G.dtype)
    nchunks = max(1, (nblk + CHUNK - 1) // CHUNK)
    for c in range(nchunks):
        b0 = c * CHUNK
        b1 = min(b0 + CHUNK, nblk)
        first = c == 0
        last = c == nchunks - 1
        i = 0
        while i + WG_I <= fi:
            j = 0
            while j + WG_J <= fo:
                wgrad_tile(X, xo, D, do, n, b0, b1, acc, G, wo, fo, i, j, first, last)
                j += WG_J
            while j < fo:
                wgrad_rows(X, xo, D, do, n, b0, b1, acc, G, wo, fo, i, j, first, last)
                j += 1
            i += WG_I
        while i < fi:
            j = 0
            while j + WG_J <= fo:
                wgrad_cols(X, xo, D, do, n, b0, b1, acc, G, wo, fo, i, j, first, last)
                j += WG_J
            while j < fo:
                wgrad_one(X, xo, D, do, n, b0, b1, acc, G, wo, fo, i, j, first, last)
                j += 1
            i += 1
    for j in range(fo):
        rowsum(D, do, n, nblk, j, G, bo + j)
    tail = nblk * SB
    if tail < n:
        for i in range(fi):
            for j in range(fo):
                acc = G[wo + i * fo + j]
                for s in range(tail, n):
                    acc += X[xo + i * n + s] * D[do + j * n + s]
                G[wo + i * fo + j] = acc
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
        if k == 0:
            affine(P, wo, 1, fo, fo, fi, bo, 0, X, 0, Z, row * n, n)
        else:
            affine(P, wo, 1, fo, fo, fi, bo, 0, H, prev * n, Z, row * n, n)
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
        if k == 0:
            weight_grad(X, 0, D, row * n, n, grad, wo, bo, fi, fo)
        else:
            prev = row - fi
            weight_grad(H, prev * n, D, row * n, n, grad, wo, bo, fi, fo)
            below = k - 1
            mode = 1
            if rblock > 0 and below >= 0 and skip_source(below + rblock, n_hidden, rblock) == below:
                mode = 2
            affine(P, wo, fo, 1, fi, fo, 0, mode, D, row * n, D, prev * n, n)
