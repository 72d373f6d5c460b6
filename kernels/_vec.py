"""The affine micro-kernels, written as explicit LLVM vector IR.

``Y[row, c] = init(row) + sum_q P[wo + row*rs + q*cs] X[q, c]`` for ``rows`` rows and
``nblk`` blocks of ``lanes`` columns: one ``<lanes x T>`` accumulator per row, a
broadcast weight times a vector of ``X`` per reduction step, ``llvm.fma`` on vectors.

Why IR and not Python: the earlier generated kernels (scalars per (row, lane), turned
into vector FMAs by LLVM's SLP vectoriser) follow LLVM's cost model, and LLVM tunes
AVX-512 CPUs such as Rocket Lake / Sapphire Rapids with ``prefer-256-bit``, so they ran
on ymm registers. A wide IR vector type is not subject to that preference: the backend
emits zmm where AVX-512 exists and splits the vector into ymm (AVX2) or xmm otherwise,
so the code stays portable. With 8 rows x 16 lanes a float64 block is 16 zmm
accumulators, enough independent chains to hide the FMA latency. It also compiles
faster than the SLP form.

Each output element is the same sequence of single-rounding FMAs over ``q`` as the
scalar loop in :func:`dense.affine` (lane-wise ``llvm.fma`` is exact per lane), so
every variant, and every CPU, gives the same bits.

``emode`` fuses a ReLU into the store, in the select form ``v if z > 0 else v * 0``
that ``activations.py`` uses (same bits, NaN included): 0 stores ``Y``; 1 also stores
``E = relu(Y)`` (forward); 2 stores ``Y`` masked by ``E > 0`` (backward); 3 stores only
``relu`` of the product in ``Y`` (a training forward that needs no pre-activation). ``E`` is
indexed like ``Y`` but from offset ``eo``.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .settings import AFFINE_BYTES


def _contig_1d(t):
    return isinstance(t, types.Array) and t.ndim == 1 and t.layout in "CF"


def make_affine(rows: int, nbytes: int):
    """Intrinsic for ``rows`` output rows times ``nblk`` blocks of ``lanes`` columns.

    ``lanes = nbytes / itemsize``: a block is as many bytes wide whatever the dtype, so
    float32 gets twice the lanes and the same count of independent FMA chains.

    Arguments as :func:`dense.affine`'s, plus ``row0`` (first row), ``ld`` (leading
    dimension of ``X``, ``Y``, ``E``), ``s_begin`` (first column) and ``nblk``.
    """

    @intrinsic
    def kernel(
        typingctx,
        P,
        wo,
        rs,
        cs,
        nred,
        bo,
        mode,
        X,
        xo,
        Y,
        yo,
        row0,
        ld,
        s_begin,
        nblk,
        E,
        eo,
        emode,
    ):
        ints = (wo, rs, cs, nred, bo, mode, xo, yo, row0, ld, s_begin, nblk, eo, emode)
        if not (_contig_1d(P) and _contig_1d(X) and _contig_1d(Y) and _contig_1d(E)):
            return None
        if not (P.dtype == X.dtype == Y.dtype == E.dtype and isinstance(P.dtype, types.Float)):
            return None
        if not all(isinstance(t, types.Integer) for t in ints):
            return None
        sig = types.void(
            P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, row0, ld, s_begin, nblk, E, eo, emode
        )

        def codegen(context, builder, signature, args):
            aty = signature.args
            i64 = ir.IntType(64)

            def as_i64(k):
                return context.cast(builder, args[k], aty[k], types.int64)

            wo_, rs_, cs_, nred_, bo_, mode_ = (as_i64(k) for k in range(1, 7))
            xo_, yo_, row0_, ld_, sb_, nblk_ = (as_i64(k) for k in (8, 10, 11, 12, 13, 14))
            pdata = context.make_array(aty[0])(context, builder, args[0]).data
            xdata = context.make_array(aty[7])(context, builder, args[7]).data
            ydata = context.make_array(aty[9])(context, builder, args[9]).data
            edata = context.make_array(aty[15])(context, builder, args[15]).data
            eo_, emode_ = as_i64(16), as_i64(17)
            fty = context.get_value_type(aty[0].dtype)
            esize = context.get_abi_sizeof(fty)
            lanes = nbytes // esize
            vty = ir.VectorType(fty, lanes)
            vptr = vty.as_pointer()
            fname = f"llvm.fma.v{lanes}f{esize * 8}"
            fnty = ir.FunctionType(vty, [vty] * 3)
            fma = cgutils.get_or_insert_function(builder.module, fnty, fname)
            zero = ir.Constant(fty, 0.0)
            undef = ir.Constant(vty, ir.Undefined)
            zidx = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)

            def splat(s):
                v = builder.insert_element(undef, s, ir.Constant(ir.IntType(32), 0))
                return builder.shuffle_vector(v, undef, zidx)

            def gep(base, idx):
                return builder.gep(base, [idx], inbounds=True)

            is_bias = builder.icmp_signed("==", mode_, ir.Constant(i64, 0))
            ybase, wbase, bias = [], [], []
            for a in range(rows):
                r = builder.add(row0_, ir.Constant(i64, a))
                ybase.append(builder.mul(r, ld_))
                wbase.append(builder.add(wo_, builder.mul(r, rs_)))
                # load the bias only when asked (the index may be out of range otherwise)
                with builder.if_else(is_bias) as (then, other):
                    with then:
                        bthen = builder.load(gep(pdata, builder.add(bo_, r)), align=esize)
                        b_then_bb = builder.block
                    with other:
                        b_other_bb = builder.block
                phi = builder.phi(fty)
                phi.add_incoming(bthen, b_then_bb)
                phi.add_incoming(zero, b_other_bb)
                bias.append(splat(phi))
            ybase = [builder.add(yo_, y) for y in ybase]
            accs = [cgutils.alloca_once(builder, vty) for _ in range(rows)]
            with cgutils.for_range(builder, nblk_) as blk_loop:
                s0 = builder.add(sb_, builder.mul(blk_loop.index, ir.Constant(i64, lanes)))
                for a in range(rows):
                    builder.store(bias[a], accs[a])
                xs0 = builder.add(xo_, s0)
                with cgutils.for_range(builder, nred_) as q_loop:
                    q = q_loop.index
                    xi = builder.add(xs0, builder.mul(q, ld_))
                    xv = builder.load(builder.bitcast(gep(xdata, xi), vptr), align=esize)
                    wq = builder.mul(q, cs_)
                    for a in range(rows):
                        w = builder.load(gep(pdata, builder.add(wbase[a], wq)), align=esize)
                        acc = builder.load(accs[a])
                        builder.store(builder.call(fma, [splat(w), xv, acc]), accs[a])
                # emode 0: Y = acc; 1: also E = relu(acc); 2: Y = acc masked by E > 0;
                # 3: Y = relu(acc) only.
                vzero = ir.Constant(vty, [0.0] * lanes)
                with builder.if_else(builder.icmp_signed("==", emode_, ir.Constant(i64, 2))) as (
                    masked,
                    plain,
                ):
                    with masked:
                        for a in range(rows):
                            yi = builder.add(ybase[a], s0)
                            ei = builder.add(eo_, builder.sub(yi, yo_))
                            z = builder.load(builder.bitcast(gep(edata, ei), vptr), align=esize)
                            acc = builder.load(accs[a])
                            keep = builder.fcmp_ordered(">", z, vzero)
                            v = builder.select(keep, acc, builder.fmul(acc, vzero))
                            yp = builder.bitcast(gep(ydata, yi), vptr)
                            builder.store(v, yp, align=esize)
                    with plain:
                        is_relu = builder.icmp_signed("==", emode_, ir.Constant(i64, 3))
                        with builder.if_else(is_relu) as (relu_only, linear):
                            with relu_only:
                                for a in range(rows):
                                    yi = builder.add(ybase[a], s0)
                                    acc = builder.load(accs[a])
                                    keep = builder.fcmp_ordered(">", acc, vzero)
                                    v = builder.select(keep, acc, builder.fmul(acc, vzero))
                                    yp = builder.bitcast(gep(ydata, yi), vptr)
                                    builder.store(v, yp, align=esize)
                            with linear:
                                for a in range(rows):
                                    yi = builder.add(ybase[a], s0)
                                    acc = builder.load(accs[a])
                                    yp = builder.bitcast(gep(ydata, yi), vptr)
                                    builder.store(acc, yp, align=esize)
                                is_fwd = builder.icmp_signed("==", emode_, ir.Constant(i64, 1))
                                with builder.if_then(is_fwd):
                                    for a in range(rows):
                                        yi = builder.add(ybase[a], s0)
                                        ei = builder.add(eo_, builder.sub(yi, yo_))
                                        acc = builder.load(accs[a])
                                        keep = builder.fcmp_ordered(">", acc, vzero)
                                        v = builder.select(keep, acc, builder.fmul(acc, vzero))
                                        ep = builder.bitcast(gep(edata, ei), vptr)
                                        builder.store(v, ep, align=esize)
            return context.get_dummy_value()

        return sig, codegen

    kernel.__name__ = f"vaffine_r{rows}_b{nbytes}"
    return kernel


# Rows per block (8 x 128 bytes: 16 zmm accumulators) and the two column widths of
# settings.AFFINE_BYTES; the 1-row kernels finish the rows.
ROWS = 8
BW, BN = AFFINE_BYTES
block_wide = make_affine(ROWS, BW)
row_wide = make_affine(1, BW)
block_narrow = make_affine(ROWS, BN)
row_narrow = make_affine(1, BN)


# --- weight gradients: lanes over samples ----------------------------------------------
# dL/dW[i, j] = sum_s X[i, s] D[j, s] with both operands feature-major, so no transpose:
# lane l of an accumulator sums the samples s = l (mod lanes) with sequential FMAs, then
# the lanes are added in a fixed halving tree. The order depends on the sample count
# only (never on the CPU, the thread or the batch), so the bits are reproducible. A
# vector is 64 bytes (8 float64 or 16 float32): one zmm, or two ymm on AVX2.
# Walking the samples in L1-sized chunks (accumulators spilled between chunks) was
# measured and gained nothing once the buffers are cache-line aligned (buffers.py).
WG_BYTES = 64


def _lane_sum(builder, v, lanes):
    """(lower half + upper half) until one lane is left: for 8 lanes
    ``((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7))``."""
    i32 = ir.IntType(32)
    while lanes > 1:
        half = lanes // 2
        undef = ir.Constant(v.type, ir.Undefined)
        lo = builder.shuffle_vector(v, undef, ir.Constant(ir.VectorType(i32, half),
                                                          list(range(half))))  # fmt: skip
        hi = builder.shuffle_vector(v, undef, ir.Constant(ir.VectorType(i32, half),
                                                          list(range(half, lanes))))  # fmt: skip
        v = builder.fadd(lo, hi)
        lanes = half
    return builder.extract_element(v, ir.Constant(i32, 0))


def make_wgrad(ni: int, nj: int):
    """Intrinsic for an ``ni x nj`` block of a weight gradient (``ni = 0``: bias sums).

    For ``a < ni``, ``b < nj``, over the samples ``s < nblk * lanes``:
    ``G[go + (i0+a)*fo + j0+b] = sum_s X[xo + (i0+a)*ld + s] * D[do + (j0+b)*ld + s]``,
    each lane a chain of ``llvm.fma`` from zero. With ``ni = 0``:
    ``G[go + j0+b] = sum_s D[do + (j0+b)*ld + s]`` (bias; ``X``, ``xo`` unused).
    ``lanes = WG_BYTES / itemsize``; the caller adds the remaining samples.
    """

    @intrinsic
    def kernel(typingctx, X, xo, D, do, ld, nblk, G, go, fo, i0, j0):
        ints = (xo, do, ld, nblk, go, fo, i0, j0)
        if not (_contig_1d(X) and _contig_1d(D) and _contig_1d(G)):
            return None
        if not (X.dtype == D.dtype == G.dtype and isinstance(X.dtype, types.Float)):
            return None
        if not all(isinstance(t, types.Integer) for t in ints):
            return None
        sig = types.void(X, xo, D, do, ld, nblk, G, go, fo, i0, j0)

        def codegen(context, builder, signature, args):
            aty = signature.args

            def as_i64(k):
                return context.cast(builder, args[k], aty[k], types.int64)

            xo_, do_, ld_, nblk_, go_, fo_, i0_, j0_ = (
                as_i64(k) for k in (1, 3, 4, 5, 7, 8, 9, 10)
            )
            xdata = context.make_array(aty[0])(context, builder, args[0]).data
            ddata = context.make_array(aty[2])(context, builder, args[2]).data
            gdata = context.make_array(aty[6])(context, builder, args[6]).data
            fty = context.get_value_type(aty[0].dtype)
            esize = context.get_abi_sizeof(fty)
            lanes = WG_BYTES // esize
            vty = ir.VectorType(fty, lanes)
            i64 = ir.IntType(64)
            fname = f"llvm.fma.v{lanes}f{esize * 8}"
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3),
                                                 fname)  # fmt: skip

            def c(k):
                return ir.Constant(i64, k)

            def gep(base, idx):
                return builder.gep(base, [idx], inbounds=True)

            def row(off, first, k):
                return builder.add(off, builder.mul(builder.add(first, c(k)), ld_))

            bias = ni == 0
            xrow = [row(xo_, i0_, a) for a in range(ni)]
            drow = [row(do_, j0_, b) for b in range(nj)]
            shape = [(0, b) for b in range(nj)] if bias else [(a, b) for a in range(ni)
                                                             for b in range(nj)]  # fmt: skip
            accs = {ab: cgutils.alloca_once(builder, vty) for ab in shape}
            for ab in shape:
                builder.store(ir.Constant(vty, [0.0] * lanes), accs[ab])
            with cgutils.for_range(builder, nblk_) as loop:
                s = builder.mul(loop.index, c(lanes))

                def vload(base, r):
                    ptr = builder.bitcast(gep(base, builder.add(r, s)), vty.as_pointer())
                    return builder.load(ptr, align=esize)

                dv = [vload(ddata, r) for r in drow]
                xv = [vload(xdata, r) for r in xrow]
                for a, b in shape:
                    acc = builder.load(accs[(a, b)])
                    if bias:
                        builder.store(builder.fadd(acc, dv[b]), accs[(a, b)])
                    else:
                        builder.store(builder.call(fma, [xv[a], dv[b], acc]), accs[(a, b)])
            for a, b in shape:
                col = builder.add(j0_, c(b))
                if not bias:
                    col = builder.add(builder.mul(builder.add(i0_, c(a)), fo_), col)
                total = _lane_sum(builder, builder.load(accs[(a, b)]), lanes)
                builder.store(total, gep(gdata, builder.add(go_, col)), align=esize)
            return context.get_dummy_value()

        return sig, codegen

    kernel.__name__ = f"vwgrad_{ni}x{nj}"
    return kernel


# Weight-gradient blocks: 4 x 4 accumulators (16 zmm) where the layer allows, then
# single rows / columns; bias sums 4 units at a time, then one.
WG_BLOCK = 4
wgrad_block = make_wgrad(WG_BLOCK, WG_BLOCK)
wgrad_rows = make_wgrad(WG_BLOCK, 1)
wgrad_cols = make_wgrad(1, WG_BLOCK)
wgrad_one = make_wgrad(1, 1)
bias_block = make_wgrad(0, WG_BLOCK)
bias_one = make_wgrad(0, 1)
