"""Dense layers of a whole network over a block of samples, forward and backward.

Buffers are flat and feature-major: unit ``u`` of the network (hidden layers in
order, then the output) owns ``buf[u*ld : u*ld + n]``, one value per sample, with
``ld >= n`` (the trainer pads rows to whole cache lines; the public API uses
``ld = n``). The vector micro-kernels of ``_vec.py`` cover whole vectors of samples;
plain loops here finish what is left, so any sample count works, including 1. With
ReLU, the activation (forward) and its mask (backward) are fused into the stores of
the affine products instead of separate passes.

Residual connections (``rblock = r > 0``): hidden layer 0 maps the input to the
width and is never skipped; hidden layers ``1..`` form blocks of ``r``; the input
of a block is added to the pre-activation of its last layer, ``h_e = act(z_e +
h_{e-r})`` for every ``e`` with ``e % r == 0`` and ``1 <= e - r + 1``. ``r = 2``
gives the classic ``relu(x + W2 relu(W1 x))``.
"""

from __future__ import annotations

import numpy as np

from . import _compat
from ._fma import fma
from ._jit import njit
from ._vec import (
    BN,
    BW,
    ROWS,
    WG_BLOCK,
    WG_BYTES,
    bias_block,
    bias_one,
    block_narrow,
    block_wide,
    row_narrow,
    row_wide,
    wgrad_block,
    wgrad_cols,
    wgrad_one,
    wgrad_rows,
)
from .activations import (
    RELU,
    apply_activation,
    factor_in_z,
    gelu_and_factor,
    scale_by_derivative_h,
    scale_by_factor,
)
from .buffers import empty_aligned
from .settings import CHUNK_SAMPLES

# Integer constants as typed values, not literals: a literal argument makes Numba
# compile a separate specialisation of ``affine`` per call site (3x the compile time).
I0 = np.int64(0)
I1 = np.int64(1)
I2 = np.int64(2)
I3 = np.int64(3)


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
def affine(P, wo, rs, cs, nrows, nred, bo, mode, X, xo, Y, yo, n, ld, E, eo, emode):
    """``Y[r, c] = init + sum_q P[wo + r*rs + q*cs] X[q, c]`` for ``r < nrows``, ``c < n``.

    ``X`` and ``Y`` are row-major with ``n`` columns, rows ``ld >= n`` elements apart.
    ``mode`` 0 starts from the bias ``P[bo + r]``, 1 from zero. ``rs, cs = 1, fan_out``
    is the forward ``W^T h``; ``fan_out, 1`` is the input gradient ``W d``. Columns go in
    wide blocks of ``settings.AFFINE_BYTES[0]`` bytes (16 float64 and 32 float32 with
    AVX-512, 12 and 24 with 16 vector registers: ``settings.BLOCKS``), in chunks of
    ``CHUNK_SAMPLES`` columns so a chunk of inputs stays in L1 while every row block uses
    it; then narrow blocks (8 and 16, or 4 and 8); rows in blocks of ``ROWS`` (8 or 4),
    then one at a time.

    ``emode`` fuses a ReLU into the store (``E`` has ``Y``'s layout from ``eo``): 0 none,
    1 also writes ``E = relu(Y)``, 2 writes ``Y`` masked by ``E > 0`` (ReLU backward),
    3 writes ``relu`` of the product to ``Y`` and nothing else.
    """
    lw = BW // P.itemsize
    ln = BN // P.itemsize
    chunk = max(1, CHUNK_SAMPLES // lw)
    nw = n // lw
    for b0 in range(0, nw, chunk):
        nb = min(chunk, nw - b0)
        r = 0
        while r + ROWS <= nrows:
            block_wide(
                P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, ld, b0 * lw, nb, E, eo, emode
            )
            r += ROWS
        while r < nrows:
            row_wide(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, ld, b0 * lw, nb, E, eo, emode)
            r += 1
    # Narrow blocks to the end (at most wide / narrow of them), the last one ending at
    # column n: it may overlap columns already written; it recomputes them with the same
    # FMA sequence, so it rewrites the same bits (X and Y never share rows).
    c = nw * lw
    while c < n and n >= ln:
        s0 = min(c, n - ln)
        r = 0
        while r + ROWS <= nrows:
            block_narrow(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, ld, s0, I1, E, eo, emode)
            r += ROWS
        while r < nrows:
            row_narrow(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, r, ld, s0, I1, E, eo, emode)
            r += 1
        c = s0 + ln
    for s in range(c, n):
        r = 0
        while r < nrows:
            acc = P[bo + r] if mode == 0 else P.dtype.type(0)
            for q in range(nred):
                acc = fma(P[wo + r * rs + q * cs], X[xo + q * ld + s], acc)
            # The micro-kernels' store (emode as above), written out rather than an inlined
            # helper: the helper's rebinding of Y and E put reference counts in this loop,
            # which kept LLVM's refcount pruning from removing the increments and
            # decrements of all four arrays on every call (8 atomic ops per call).
            yi = yo + r * ld + s
            ei = eo + r * ld + s
            if emode == 2:
                acc = acc if E[ei] > 0 else acc * 0
            elif emode == 1:
                E[ei] = acc if acc > 0 else acc * 0
            elif emode == 3:
                acc = acc if acc > 0 else acc * 0
            Y[yi] = acc
            r += 1


@njit
def weight_grad(X, xo, D, do, n, ld, G, wo, bo, fi, fo):
    """``G[W] = X D^T`` (fan_in x fan_out) and ``G[b] = sum_s D`` over ``n`` samples.

    ``X`` rows (``fi`` units) and ``D`` rows (``fo`` units) are feature-major with
    leading dimension ``ld >= n``. The vector kernels of ``_vec.py`` sum whole vectors of
    samples; the last ``n % lanes`` samples are added here, in order, to each entry.
    """
    lanes = WG_BYTES // X.itemsize
    nblk = n // lanes
    i = 0
    while i + WG_BLOCK <= fi:
        j = 0
        while j + WG_BLOCK <= fo:
            wgrad_block(X, xo, D, do, ld, nblk, G, wo, fo, i, j)
            j += WG_BLOCK
        while j < fo:
            wgrad_rows(X, xo, D, do, ld, nblk, G, wo, fo, i, j)
            j += 1
        i += WG_BLOCK
    while i < fi:
        j = 0
        while j + WG_BLOCK <= fo:
            wgrad_cols(X, xo, D, do, ld, nblk, G, wo, fo, i, j)
            j += WG_BLOCK
        while j < fo:
            wgrad_one(X, xo, D, do, ld, nblk, G, wo, fo, i, j)
            j += 1
        i += 1
    j = 0
    while j + WG_BLOCK <= fo:
        bias_block(X, xo, D, do, ld, nblk, G, bo, fo, I0, j)
        j += WG_BLOCK
    while j < fo:
        bias_one(X, xo, D, do, ld, nblk, G, bo, fo, I0, j)
        j += 1
    tail = nblk * lanes
    if tail < n:
        for j in range(fo):
            for i in range(fi):
                acc = G[wo + i * fo + j]
                for s in range(tail, n):
                    acc = fma(X[xo + i * ld + s], D[do + j * ld + s], acc)
                G[wo + i * fo + j] = acc
            acc = G[bo + j]
            for s in range(tail, n):
                acc += D[do + j * ld + s]
            G[bo + j] = acc


@njit
def forward_flat(P, table, X, Z, H, n, ld, act, alpha, rblock, keep_z):
    """Forward pass of one network; see :func:`fastdepth.kernels.forward`.

    ``n`` samples; ``X``, ``Z`` and ``H`` rows are ``ld >= n`` elements apart. Columns
    ``n..ld`` are padding: elementwise passes may write them, nothing reads them into
    a result.

    ``keep_z`` is an integer flag (a literal bool would compile a specialisation per
    value). With ``keep_z = 0`` (a training step), a ReLU layer whose backward mask is fused
    (:func:`relu_fused_below`) stores only ``H``: the backward pass masks with ``H > 0``,
    which equals ``Z > 0`` bit for bit, and skipping the ``Z`` store saves a third of
    the layer's memory traffic. Those rows of ``Z`` are then left unwritten. A float64
    gelu network (:func:`~.activations.factor_in_z`) leaves the derivative factor
    ``gelu'(z)`` in its hidden rows of ``Z`` instead of ``z`` (one ``erf`` per element
    fewer, same bits); :func:`backward_flat` must then be told so (``z_factor = 1``).

    Returns True, or False as soon as a layer meets an activation code with no branch.
    """
    nl = table.shape[0]
    n_hidden = nl - 1
    row = 0
    prev = 0
    for k in range(nl):
        fi = table[k, 0]
        fo = table[k, 1]
        wo = table[k, 2]
        bo = table[k, 3]
        src = skip_source(k, n_hidden, rblock) if k < n_hidden else -1
        # ReLU without a skip add is fused into the affine store (emode 1, or 3 when
        # no pre-activation is kept).
        fuse = k < n_hidden and act == RELU and src < 0
        z_less = fuse and not keep_z and relu_fused_below(k, n_hidden, rblock, act)
        emode = I3 if z_less else (I1 if fuse else I0)
        # Input X or H, output Z or H: one call per pair, not arrays picked into a
        # variable, whose reference count (two atomic ops per array and layer) LLVM's
        # refcount pruning cannot remove inside this loop. affine is not inlined, so
        # a call site costs one call instruction.
        if k == 0 and z_less:
            affine(P, wo, I1, fo, fo, fi, bo, I0, X, I0, H, row * ld, n, ld, H, row * ld, emode)
        elif k == 0:
            affine(P, wo, I1, fo, fo, fi, bo, I0, X, I0, Z, row * ld, n, ld, H, row * ld, emode)
        elif z_less:
            affine(P, wo, I1, fo, fo, fi, bo, I0, H, prev * ld, H, row * ld, n, ld, H, row * ld,
                   emode)  # fmt: skip
        else:
            affine(P, wo, I1, fo, fo, fi, bo, I0, H, prev * ld, Z, row * ld, n, ld, H, row * ld,
                   emode)  # fmt: skip
        if k < n_hidden and not fuse:
            if src >= 0:
                so = unit_offset(table, src) * ld
                for i in range(fo * ld):
                    Z[row * ld + i] += H[so + i]
            if not keep_z and factor_in_z(act, Z):
                gelu_and_factor(Z, row * ld, H, row * ld, fo * ld)
            elif not apply_activation(Z, row * ld, H, row * ld, fo * ld, act, alpha):
                return False
        elif k == n_hidden:
            for i in range(fo * ld):
                H[row * ld + i] = Z[row * ld + i]
        prev = row
        row += fo
    return True


@njit
def backward_flat(P, table, X, Z, H, dout, n, ld, act, alpha, rblock, grad, D, z_factor):
    """Backward pass of one network; see :func:`fastdepth.kernels.backward`.

    ``n`` samples, rows ``ld`` apart as in :func:`forward_flat`; ``dout`` is ``n_out x n``
    with rows ``n`` apart. ``z_factor`` is an integer flag: 1 when ``Z`` and ``H`` come
    from :func:`forward_flat` with ``keep_z = 0``, whose hidden rows of ``Z`` then hold
    ``act'(z)`` where :func:`~.activations.factor_in_z` says so (float64 gelu), to be
    multiplied in as they are; 0 when ``Z`` holds the pre-activations (``keep_z = 1``).
    Returns True, or False for an activation code with no branch.
    """
    nl = table.shape[0]
    n_hidden = nl - 1
    out_row = unit_offset(table, n_hidden)
    n_out = table[n_hidden, 1]
    max_fo = 0
    for k in range(nl):
        max_fo = max(max_fo, table[k, 1])
    # Scratch for W d when it must be added to a skip contribution (residual nets
    # only); it is the input gradient of a hidden layer, so fan_in <= max fan_out.
    WD = empty_aligned(max_fo * ld if rblock > 0 else 0, D)
    WD[:] = 0  # its padding columns are added to D's
    for j in range(n_out):
        for s in range(n):
            D[(out_row + j) * ld + s] = dout[j * n + s]
    for k in range(nl - 1, -1, -1):
        fi = table[k, 0]
        fo = table[k, 1]
        wo = table[k, 2]
        bo = table[k, 3]
        row = unit_offset(table, k)
        if k < n_hidden:
            # D holds dL/dh_k, complete now that every layer above is done, and already
            # dL/dz_k when the ReLU mask was fused into the store of ``W d`` (emode 2).
            if relu_fused_below(k, n_hidden, rblock, act):
                pass
            elif z_factor and factor_in_z(act, Z):
                scale_by_factor(Z, row * ld, D, row * ld, fo * ld)
            elif not scale_by_derivative_h(Z, H, row * ld, D, row * ld, fo * ld, act, alpha):
                return False
            src = skip_source(k, n_hidden, rblock)
            if src >= 0:
                # A skip is the first contribution its source receives (its block
                # end lies above the layer that feeds it through W), so copy.
                so = unit_offset(table, src) * ld
                for i in range(fo * ld):
                    D[so + i] = D[row * ld + i]
        prev = row - fi
        # X or H by call site, not by variable (see forward_flat)
        if k == 0:
            weight_grad(X, I0, D, row * ld, n, ld, grad, wo, bo, fi, fo)
        else:
            weight_grad(H, prev * ld, D, row * ld, n, ld, grad, wo, bo, fi, fo)
        if k > 0:
            below = k - 1
            if rblock > 0 and skip_source(below + rblock, n_hidden, rblock) == below:
                # dL/dh_below already holds its skip contribution: add W d to it.
                affine(P, wo, fo, I1, fi, fo, I0, I1, D, row * ld, WD, I0, n, ld, WD, I0, I0)
                for i in range(fi * ld):
                    D[prev * ld + i] += WD[i]
            else:
                # The ReLU mask of the layer below from H > 0 (equal to Z > 0 bit for bit):
                # a training forward does not store Z for such layers.
                emode = I2 if relu_fused_below(below, n_hidden, rblock, act) else I0
                affine(
                    P,
                    wo,
                    fo,
                    I1,
                    fi,
                    fo,
                    I0,
                    I1,
                    D,
                    row * ld,
                    D,
                    prev * ld,
                    n,
                    ld,
                    H,
                    prev * ld,
                    emode,
                )
    return True


# Both call whole kernels (affine, weight_grad, the activations) and inline nothing that a
# loop of theirs needs, so their own code is optimised before those are linked in (see
# _compat.optimise_before_linking): the linked module is not optimised a second time.
_compat.optimise_before_linking(__name__, ("forward_flat", "backward_flat"))
