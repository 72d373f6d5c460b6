"""The affine micro-kernels, written as explicit LLVM vector IR.

``Y[row, c] = init(row) + sum_q P[wo + row*rs + q*cs] X[q, c]`` for ``rows`` rows and
``nblk`` blocks of ``lanes`` columns: one ``<lanes x T>`` accumulator per row, a
broadcast weight times a vector of ``X`` per reduction step, ``llvm.fma`` on vectors.

Why IR and not Python: the earlier generated kernels (scalars per (row, lane), turned
into vector FMAs by LLVM's SLP vectoriser) follow LLVM's cost model, and LLVM tunes
AVX-512 CPUs such as Rocket Lake / Sapphire Rapids with ``prefer-256-bit``, so they ran
on ymm registers. A wide IR vector type is not subject to that preference: the backend
emits zmm where AVX-512 exists and splits the vector into ymm (AVX2) or xmm otherwise,
so the code stays portable. The block shapes come from ``settings.BLOCKS``, by the
target's register file: with AVX-512, 8 rows x 16 float64 lanes are 16 zmm
accumulators, enough independent chains to hide the FMA latency; an AVX2 CPU has 16 ymm
registers, and 4 rows x 12 lanes (3 ymm each, 12 accumulators) keep them out of the
stack. It also compiles faster than the SLP form.

Each output element is the same sequence of single-rounding FMAs over ``q`` as the
scalar loop in :func:`dense.affine` (lane-wise ``llvm.fma`` is exact per lane), so
every variant, and every CPU, gives the same bits.

``emode`` fuses a ReLU into the store, in the select form ``v if z > 0 else v * 0``
that ``activations.py`` uses (same bits, NaN included): 0 stores ``Y``; 1 also stores
``E = relu(Y)`` (forward); 2 stores ``Y`` masked by ``E > 0`` (backward); 3 stores only
``relu`` of the product in ``Y`` (a training forward that needs no pre-activation). ``E`` is
indexed like ``Y`` but from offset ``eo``.

The IR is written for typed and opaque pointers alike: every load, store and element
pointer names its element type, through the helpers of ``_compat.py`` (the one module
that touches llvmlite's pointer model and Numba's internals). The emitters here take an
``IRBuilder``, the float type and the named arguments (arrays as pointers to their first
element, integers as ``i64``), so ``tests/test_vec_ir.py`` also builds and runs them over
opaque pointers without Numba.
"""

from __future__ import annotations

from llvmlite import ir

from ._compat import declare, for_range, load, load_at, stack_slot, store, store_at
from ._compat import vector_intrinsic as _intrinsic
from .settings import AFFINE_BYTES, BLOCK

I32 = ir.IntType(32)
I64 = ir.IntType(64)

AFFINE_PARAMS = ("P", "wo", "rs", "cs", "nred", "bo", "mode", "X", "xo", "Y", "yo", "row0",
                 "ld", "s_begin", "nblk", "E", "eo", "emode")  # fmt: skip
AFFINE_ARRAYS = ("P", "X", "Y", "E")


def _c(k: int) -> ir.Constant:
    return ir.Constant(I64, k)


def itemsize(fty: ir.Type) -> int:
    """Bytes of the LLVM float type ``fty`` (``float`` or ``double``)."""
    if isinstance(fty, ir.DoubleType):
        return 8
    if isinstance(fty, ir.FloatType):
        return 4
    raise TypeError(f"the vector kernels take float or double, not {fty}")


def _fma(builder: ir.IRBuilder, vty: ir.VectorType):
    """``llvm.fma`` on ``vty`` (lane-wise, one rounding per lane)."""
    name = f"llvm.fma.v{vty.count}f{itemsize(vty.element) * 8}"
    return declare(builder.module, ir.FunctionType(vty, [vty] * 3), name)


def _splat(builder: ir.IRBuilder, s: ir.Value, vty: ir.VectorType) -> ir.Value:
    undef = ir.Constant(vty, ir.Undefined)
    v = builder.insert_element(undef, s, ir.Constant(I32, 0))
    return builder.shuffle_vector(
        v, undef, ir.Constant(ir.VectorType(I32, vty.count), [0] * vty.count)
    )


def _store_relu(builder, v, gate, base, idx, align):
    """``base[idx:] = v if gate > 0 else v * 0`` lane-wise (NaN gate: ``v * 0``), the
    select form of ``activations.py``: ``gate = v`` is ReLU, ``gate = E`` its mask."""
    vzero = ir.Constant(v.type, [0.0] * v.type.count)
    keep = builder.fcmp_ordered(">", gate, vzero)
    store_at(builder, builder.select(keep, v, builder.fmul(v, vzero)), base, idx, align)


def emit_affine(
    builder: ir.IRBuilder, fty: ir.Type, a: dict, rows: int, nbytes: int, vbytes: int = 0
) -> None:
    """The body of :func:`make_affine`'s kernel; ``a`` maps :data:`AFFINE_PARAMS` to values.

    A row's accumulator is one vector of ``nbytes``, or ``nbytes / vbytes`` vectors of
    ``vbytes`` where ``vbytes`` is given (a block 3 ymm wide has no power-of-two vector type).
    """
    esize = itemsize(fty)
    vbytes = vbytes or nbytes
    if nbytes % vbytes:
        raise ValueError(f"a block of {nbytes} bytes is not whole vectors of {vbytes}")
    nv, lanes = nbytes // vbytes, vbytes // esize
    vty = ir.VectorType(fty, lanes)
    fma = _fma(builder, vty)
    P, X, Y, E = (a[k] for k in AFFINE_ARRAYS)
    ld = a["ld"]

    is_bias = builder.icmp_signed("==", a["mode"], _c(0))
    ybase, wbase, bias = [], [], []
    for r_ in range(rows):
        r = builder.add(a["row0"], _c(r_))
        ybase.append(builder.mul(r, ld))
        wbase.append(builder.add(a["wo"], builder.mul(r, a["rs"])))
        # load the bias only when asked (the index may be out of range otherwise)
        with builder.if_else(is_bias) as (then, other):
            with then:
                bthen = load_at(builder, fty, P, builder.add(a["bo"], r), esize)
                b_then_bb = builder.block
            with other:
                b_other_bb = builder.block
        phi = builder.phi(fty)
        phi.add_incoming(bthen, b_then_bb)
        phi.add_incoming(ir.Constant(fty, 0.0), b_other_bb)
        bias.append(_splat(builder, phi, vty))
    ybase = [builder.add(a["yo"], y) for y in ybase]
    cells = [(r_, v) for r_ in range(rows) for v in range(nv)]
    accs = {rv: stack_slot(builder, vty) for rv in cells}
    with for_range(builder, a["nblk"]) as blk:
        s0 = builder.add(a["s_begin"], builder.mul(blk, _c(lanes * nv)))
        for r_, v in cells:
            store(builder, bias[r_], accs[(r_, v)])
        xs0 = builder.add(a["xo"], s0)
        with for_range(builder, a["nred"]) as q:
            xq = builder.add(xs0, builder.mul(q, ld))
            xv = [load_at(builder, vty, X, builder.add(xq, _c(v * lanes)), esize)
                  for v in range(nv)]  # fmt: skip
            wq = builder.mul(q, a["cs"])
            for r_ in range(rows):
                w = load_at(builder, fty, P, builder.add(wbase[r_], wq), esize)
                w = _splat(builder, w, vty)
                for v in range(nv):
                    acc = load(builder, vty, accs[(r_, v)])
                    store(builder, builder.call(fma, [w, xv[v], acc]), accs[(r_, v)])

        def y_at(r_, v):
            return builder.add(ybase[r_], builder.add(s0, _c(v * lanes)))

        def e_at(yi):  # E is indexed like Y, from offset eo
            return builder.add(a["eo"], builder.sub(yi, a["yo"]))

        # emode 0: Y = acc; 1: also E = relu(acc); 2: Y = acc masked by E > 0;
        # 3: Y = relu(acc) only.
        emode = a["emode"]
        with builder.if_else(builder.icmp_signed("==", emode, _c(2))) as (masked, plain):
            with masked:
                for rv in cells:
                    yi = y_at(*rv)
                    z = load_at(builder, vty, E, e_at(yi), esize)
                    _store_relu(builder, load(builder, vty, accs[rv]), z, Y, yi, esize)
            with plain:
                with builder.if_else(builder.icmp_signed("==", emode, _c(3))) as (relu, linear):
                    with relu:
                        for rv in cells:
                            yi = y_at(*rv)
                            acc = load(builder, vty, accs[rv])
                            _store_relu(builder, acc, acc, Y, yi, esize)
                    with linear:
                        for rv in cells:
                            yi = y_at(*rv)
                            store_at(builder, load(builder, vty, accs[rv]), Y, yi, esize)
                        with builder.if_then(builder.icmp_signed("==", emode, _c(1))):
                            for rv in cells:
                                ei = e_at(y_at(*rv))
                                acc = load(builder, vty, accs[rv])
                                _store_relu(builder, acc, acc, E, ei, esize)


def make_affine(rows: int, nbytes: int, vbytes: int = 0):
    """Intrinsic for ``rows`` output rows times ``nblk`` blocks of ``lanes`` columns.

    ``lanes = nbytes / itemsize``: a block is as many bytes wide whatever the dtype, so
    float32 gets twice the lanes and the same count of independent FMA chains. A row's
    accumulator is one IR vector, or vectors of ``vbytes`` where that is given.

    Arguments (:data:`AFFINE_PARAMS`) as :func:`dense.affine`'s, plus ``row0`` (first
    row), ``ld`` (leading dimension of ``X``, ``Y``, ``E``), ``s_begin`` (first column)
    and ``nblk``.
    """

    vbytes = vbytes if 0 < vbytes < nbytes else 0  # a vector as wide as the block: one

    def emit(builder, fty, a):
        emit_affine(builder, fty, a, rows, nbytes, vbytes)

    name = f"vaffine_r{rows}_b{nbytes}" + (f"_v{vbytes}" if vbytes else "")
    return _intrinsic(name, AFFINE_PARAMS, AFFINE_ARRAYS, emit)


# Rows per block and the two column widths, sized to the register file
# (settings.BLOCKS: 8 x 128 bytes, 16 zmm accumulators, with AVX-512; 4 rows x 3 ymm, 12
# accumulators, with 16 registers); the 1-row kernels finish the rows.
ROWS = BLOCK.rows
BW, BN = AFFINE_BYTES
block_wide = make_affine(ROWS, BW, BLOCK.affine_vector)
row_wide = make_affine(1, BW, BLOCK.affine_vector)
block_narrow = make_affine(ROWS, BN, BLOCK.affine_vector)
row_narrow = make_affine(1, BN, BLOCK.affine_vector)


# --- weight gradients: lanes over samples ----------------------------------------------
# dL/dW[i, j] = sum_s X[i, s] D[j, s] with both operands feature-major, so no transpose:
# lane l of an accumulator sums the samples s = l (mod lanes) with sequential FMAs, then
# the lanes are added in a fixed halving tree. The order depends on the sample count
# only (never on the CPU, the thread or the batch), so the bits are reproducible. A
# vector is 64 bytes (8 float64 or 16 float32): one zmm, or two ymm on AVX2.
# Walking the samples in L1-sized chunks (accumulators spilled between chunks) was
# measured and gained nothing once the buffers are cache-line aligned (buffers.py).
WG_BYTES = 64
WGRAD_PARAMS = ("X", "xo", "D", "do", "ld", "nblk", "G", "go", "fo", "i0", "j0")
WGRAD_ARRAYS = ("X", "D", "G")


def _lane_sum(builder, v, lanes):
    """(lower half + upper half) until one lane is left: for 8 lanes
    ``((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7))``."""
    return builder.extract_element(_lane_sums(builder, [v], lanes)[0], ir.Constant(I32, 0))


def _halves(builder, u, v, m, s):
    """``lo + hi`` of every ``s``-lane segment of ``u`` (``m`` segments) and then of ``v``.

    The result has ``2 m`` (``m`` with ``v = None``) segments of ``s / 2`` lanes, in the
    order of the inputs: one step of :func:`_lane_sum` for each segment, on one vector.
    """
    h = s // 2
    width = u.type.count
    nseg = m if v is None else 2 * m
    lo, hi = [], []
    for t in range(nseg * h):
        g, o = divmod(t, h)
        base = g * s if g < m else width + (g - m) * s
        lo.append(base + o)
        hi.append(base + h + o)
    other = ir.Constant(u.type, ir.Undefined) if v is None else v
    mask = ir.VectorType(I32, nseg * h)
    return builder.fadd(builder.shuffle_vector(u, other, ir.Constant(mask, lo)),
                        builder.shuffle_vector(u, other, ir.Constant(mask, hi)))  # fmt: skip


def _lane_sums(builder, vecs, lanes):
    """:func:`_lane_sum` of every vector of ``vecs`` (a power of two of them), as vectors
    whose lanes, read in order, are the sums in the order of ``vecs``.

    Each sum is the same halving tree, addition for addition, as one :func:`_lane_sum`
    (so the same bits); the tree runs on whole vectors, two inputs' segments side by
    side, instead of one shrinking vector per sum: 16 sums of 8 lanes take 14 vector
    adds and 28 shuffles in place of 48 narrowing adds, shuffles and extracts.
    """
    m, s = 1, lanes  # every vector holds m segments (partial sums) of s lanes
    while s > 1:
        if len(vecs) > 1:
            vecs = [_halves(builder, vecs[k], vecs[k + 1], m, s) for k in range(0, len(vecs), 2)]
            m *= 2
        else:
            vecs = [_halves(builder, vecs[0], None, m, s)]
        s //= 2
    return vecs


def emit_wgrad(builder: ir.IRBuilder, fty: ir.Type, a: dict, ni: int, nj: int) -> None:
    """The body of :func:`make_wgrad`'s kernel; ``a`` maps :data:`WGRAD_PARAMS` to values."""
    esize = itemsize(fty)
    lanes = WG_BYTES // esize
    vty = ir.VectorType(fty, lanes)
    fma = _fma(builder, vty)
    ld = a["ld"]

    def row(off, first, k):
        return builder.add(off, builder.mul(builder.add(first, _c(k)), ld))

    bias = ni == 0
    xrow = [row(a["xo"], a["i0"], i) for i in range(ni)]
    drow = [row(a["do"], a["j0"], j) for j in range(nj)]
    shape = [(0, j) for j in range(nj)] if bias else [(i, j) for i in range(ni)
                                                     for j in range(nj)]  # fmt: skip
    accs = {ij: stack_slot(builder, vty) for ij in shape}
    for ij in shape:
        store(builder, ir.Constant(vty, [0.0] * lanes), accs[ij])
    with for_range(builder, a["nblk"]) as blk:
        s = builder.mul(blk, _c(lanes))
        dv = [load_at(builder, vty, a["D"], builder.add(r, s), esize) for r in drow]
        xv = [load_at(builder, vty, a["X"], builder.add(r, s), esize) for r in xrow]
        for i, j in shape:
            acc = load(builder, vty, accs[(i, j)])
            if bias:
                store(builder, builder.fadd(acc, dv[j]), accs[(i, j)])
            else:
                store(builder, builder.call(fma, [xv[i], dv[j], acc]), accs[(i, j)])
    sums = _lane_sums(builder, [load(builder, vty, accs[ij]) for ij in shape], lanes)
    per = sums[0].type.count
    # the sums of one row (i) go to nj adjacent entries of G: one store per row
    for r, i in enumerate(range(max(ni, 1))):
        e0 = r * nj
        v = sums[e0 // per]
        part = v if nj == per else builder.shuffle_vector(
            v, ir.Constant(v.type, ir.Undefined),
            ir.Constant(ir.VectorType(I32, nj), list(range(e0 % per, e0 % per + nj))))  # fmt: skip
        if nj == 1:
            part = builder.extract_element(part, ir.Constant(I32, 0))
        col = builder.add(a["j0"], _c(0))
        if not bias:
            col = builder.add(builder.mul(builder.add(a["i0"], _c(i)), a["fo"]), col)
        store_at(builder, part, a["G"], builder.add(a["go"], col), esize)


def make_wgrad(ni: int, nj: int):
    """Intrinsic for an ``ni x nj`` block of a weight gradient (``ni = 0``: bias sums).

    For ``a < ni``, ``b < nj``, over the samples ``s < nblk * lanes``:
    ``G[go + (i0+a)*fo + j0+b] = sum_s X[xo + (i0+a)*ld + s] * D[do + (j0+b)*ld + s]``,
    each lane a chain of ``llvm.fma`` from zero. With ``ni = 0``:
    ``G[go + j0+b] = sum_s D[do + (j0+b)*ld + s]`` (bias; ``X``, ``xo`` unused).
    ``lanes = WG_BYTES / itemsize``; the caller adds the remaining samples. Arguments in
    the order of :data:`WGRAD_PARAMS`.
    """

    def emit(builder, fty, a):
        emit_wgrad(builder, fty, a, ni, nj)

    return _intrinsic(f"vwgrad_{ni}x{nj}", WGRAD_PARAMS, WGRAD_ARRAYS, emit)


# Weight-gradient blocks of WG_BLOCK x WG_BLOCK accumulators where the layer allows (4 x 4,
# 16 zmm, with AVX-512; 2 x 2, 8 ymm, with 16 registers: settings.BLOCKS), then single
# rows / columns; bias sums WG_BLOCK units at a time, then one.
WG_BLOCK = BLOCK.wgrad
wgrad_block = make_wgrad(WG_BLOCK, WG_BLOCK)
wgrad_rows = make_wgrad(WG_BLOCK, 1)
wgrad_cols = make_wgrad(1, WG_BLOCK)
wgrad_one = make_wgrad(1, 1)
bias_block = make_wgrad(0, WG_BLOCK)
bias_one = make_wgrad(0, 1)
