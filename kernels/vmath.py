"""Branch-free float64 ``exp``, ``expm1``, ``tanh``, ``sigmoid``, ``erf`` and ``log1p``
that LLVM's loop vectoriser can vectorise.

Why not ``math.exp`` / ``math.log1p``: Numba lowers them to scalar libm calls, which
no loop around them can vectorise. In the BCE loss that was ~11 us per step at
N = 1000, about half of a depth-1 training step (the dense layers are explicit vector
code, see ``_vec.py``). These versions are plain arithmetic, fused multiply-adds
(``_fma.fma``), selects and integer bit operations, inlined into the caller by LLVM
(they compile on their own: Numba-level ``inline="always"`` deep-copied each one's IR at
every call site, about 1 s of the first-use compile), so a loop over samples becomes
vector code; the same per-element operations run in the vector body and in the scalar
remainder, so every element gets the same bits on every path.

Accuracy (``tests/test_vmath.py`` checks it against NumPy and libm on 10^6 points and
at the edges): ``vexp`` within 1 ulp on the whole range, subnormal results, ``+-inf``
and NaN included; ``vexpm1_neg`` within 2 ulp, ``vtanh`` and ``verf`` within 3 ulp;
``log1p01`` within 1 ulp on ``[0, 1]``, its only domain here. For the activations, libm
was ~10 ns per element for ``tanh`` and ~8 for ``erf`` (scalar calls), 100x a ReLU,
which made tanh nets ~15x slower per step than ReLU nets.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._fma import fma
from ._jit import njit


@intrinsic
def f64_as_i64(typingctx, x):
    """The bits of a float64 as an int64 (no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def i64_as_f64(typingctx, k):
    """The float64 whose bits are the int64 ``k`` (no conversion)."""
    if k != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_INV_LN2 = 1.4426950408889634
# ln 2 = _LN2_HI + _LN2_LO: the Cody-Waite split for the FMA range reduction.
_LN2_HI = 0.6931471805599453
_LN2_LO = 2.3190468138462996e-17
# 1.5 * 2**52: adding it rounds a float of magnitude < 2**51 to an integer, which then
# sits in the low bits of the sum (no float -> int conversion, which is poison for NaN).
_ROUNDER = 6755399441055744.0
# exp(+-800) is already inf / 0; clamping keeps the integer arithmetic in range.
_EXP_CLAMP = 800.0
# 1/k!, k = 13 .. 2: the Taylor remainder on |r| <= ln2 / 2 is 4e-18 relative.
_E13 = 1.0 / 6227020800.0
_E12 = 1.0 / 479001600.0
_E11 = 1.0 / 39916800.0
_E10 = 1.0 / 3628800.0
_E9 = 1.0 / 362880.0
_E8 = 1.0 / 40320.0
_E7 = 1.0 / 5040.0
_E6 = 1.0 / 720.0
_E5 = 1.0 / 120.0
_E4 = 1.0 / 24.0
_E3 = 1.0 / 6.0


@njit(inline="always")
def _reduce(x):
    """``(k, r)`` with ``x = k ln2 + r``, ``|r| <= ln2 / 2`` (``|x| < 2**51 ln2``)."""
    t = x * _INV_LN2 + _ROUNDER
    kf = t - _ROUNDER
    k = f64_as_i64(t) - f64_as_i64(_ROUNDER)
    r = fma(kf, -_LN2_HI, x)
    return k, fma(kf, -_LN2_LO, r)


@njit(inline="always")
def _exp_tail(r):
    """``q(r)`` with ``exp(r) = 1 + r + r^2 q(r)``: ``1/2 + r/3! + ... + r^11/13!``, Horner."""
    q = fma(_E13, r, _E12)
    q = fma(q, r, _E11)
    q = fma(q, r, _E10)
    q = fma(q, r, _E9)
    q = fma(q, r, _E8)
    q = fma(q, r, _E7)
    q = fma(q, r, _E6)
    q = fma(q, r, _E5)
    q = fma(q, r, _E4)
    q = fma(q, r, _E3)
    return fma(q, r, 0.5)


@njit
def vexp(x):
    """``exp(x)`` for a float64 ``x``; branch-free, within 1 ulp.

    ``x = k ln2 + r`` with ``|r| <= ln2 / 2``; ``exp(r)`` by a degree-13 polynomial in
    Horner form with FMAs; ``2**k`` as two exponent-field scalings (``k = k1 + k2``), so
    results in the subnormal range are rounded once, at the last multiply.
    """
    xc = x if x > -_EXP_CLAMP else -_EXP_CLAMP
    xc = xc if xc < _EXP_CLAMP else _EXP_CLAMP
    k, r = _reduce(xc)
    p = fma(_exp_tail(r), r, 1.0)
    p = fma(p, r, 1.0)
    k1 = k >> 1
    k2 = k - k1
    y = p * i64_as_f64((k1 + 1023) << 52) * i64_as_f64((k2 + 1023) << 52)
    return x if x != x else y  # NaN in, NaN out (the clamps above dropped it)


# expm1 is exp(x) - 1 without the cancellation near 0, on x <= 0 only (tanh and elu need
# no more). -60 is already -1 to the last bit (exp(-60) = 8.8e-27 < eps / 2).
_EXPM1_LOW = -60.0


@njit
def vexpm1_neg(x):
    """``expm1(x)`` for a float64 ``x <= 0`` (or NaN); branch-free, within 2 ulp.

    ``x = k ln2 + r`` as in :func:`vexp`; ``expm1(r) = r + r^2 q(r)`` by the same
    polynomial; then ``expm1(x) = 2^k expm1(r) + (2^k - 1)``, where both terms are exact
    (a power-of-two scaling, and ``1 - 2^k`` for ``k >= -87``), so one rounding remains.
    A positive ``x`` is treated as 0 (the callers select another value there).
    """
    xc = x if x > _EXPM1_LOW else _EXPM1_LOW
    xc = xc if xc < 0.0 else 0.0
    k, r = _reduce(xc)
    em = fma(r * r, _exp_tail(r), r)
    s = i64_as_f64((k + 1023) << 52)
    y = fma(s, em, s - 1.0)
    return x if (x != x or x == 0.0) else y  # NaN stays NaN, -0 stays -0


@njit
def vtanh(z):
    """``tanh(z)`` for a float64 ``z``; branch-free, within 3 ulp.

    ``tanh|z| = -m / (2 + m)`` with ``m = expm1(-2|z|)`` in ``(-1, 0]``: no cancellation
    for small ``|z|``, no overflow for large; the sign is copied from ``z``.
    """
    m = vexpm1_neg(-2.0 * abs(z))
    return math.copysign(-m / (2.0 + m), z)


@njit(inline="always")
def sigmoid_from_e(z, e):
    """``sigmoid(z)`` given ``e = exp(-|z|)``: ``1 / (1 + e)`` for ``z >= 0``, else
    ``e / (1 + e)``, so nothing overflows. The BCE loss has ``e`` already."""
    return (1.0 if z >= 0.0 else e) / (1.0 + e)


@njit
def vsigmoid(z):
    """``1 / (1 + exp(-z))`` for a float64 ``z`` (see :func:`sigmoid_from_e`)."""
    return sigmoid_from_e(z, vexp(-abs(z)))


# Cephes' erf (ndtr.c, S. L. Moshier): erf(x) = x T(x^2) / U(x^2) for |x| <= 1, and
# 1 - exp(-x^2) P(|x|) / Q(|x|) for 1 < |x| < 8 (U and Q monic, their leading 1 left out).
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)  # fmt: skip
_ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)  # fmt: skip
_ERF_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
          4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
          9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)  # fmt: skip
_ERF_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
          9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
          1.65666309194161350182e3, 5.57535340817727675546e2)  # fmt: skip
# erfc(6) = 2.2e-17 < eps / 4: from here on erf is 1 to the last bit, and the clamp keeps
# the large-argument branch on P / Q's range.
_ERF_ONE = 6.0


# Inlined at the Numba level: compiled on its own it is above LLVM's inlining threshold,
# and a call in the loop keeps it scalar (11 ns per element, libm's erf 8).
@njit(inline="always")
def verf(x):
    """``erf(x)`` for a float64 ``x``; branch-free, within 3 ulp (the rational on ``|x| <=
    1``; within 1 ulp above).

    Cephes' two rational approximations, both evaluated and the right numerator and
    denominator selected before the one division: ``x T(x^2) / U(x^2)`` for ``|x| <= 1``,
    ``1 - exp(-x^2) P(|x|) / Q(|x|)`` (sign copied from ``x``) above, with ``|x|``
    clamped at 6, where erf is 1 to the last bit.
    """
    a = abs(x)
    small = a <= 1.0
    a = a if a < _ERF_ONE else _ERF_ONE
    z = x * x
    e = vexp(-(a * a))
    t0, t1, t2, t3, t4 = _ERF_T
    u0, u1, u2, u3, u4 = _ERF_U
    p0, p1, p2, p3, p4, p5, p6, p7, p8 = _ERF_P
    q0, q1, q2, q3, q4, q5, q6, q7 = _ERF_Q
    t = fma(fma(fma(fma(t0, z, t1), z, t2), z, t3), z, t4)
    u = fma(fma(fma(fma(z + u0, z, u1), z, u2), z, u3), z, u4)
    p = fma(fma(fma(fma(fma(fma(fma(fma(p0, a, p1), a, p2), a, p3), a, p4), a, p5), a, p6),
                a, p7), a, p8)  # fmt: skip
    q = fma(fma(fma(fma(fma(fma(fma(a + q0, a, q1), a, q2), a, q3), a, q4), a, q5), a, q6),
            a, q7)  # fmt: skip
    num = x * t if small else e * p
    den = u if small else q
    r = num / den
    y = r if small else math.copysign(1.0 - r, x)
    return x if x != x else y  # NaN in, NaN out (the clamp dropped it)


# fdlibm's log1p (s_log1p.c, < 1 ulp): log(1 + f) = f - hfsq + s (hfsq + R(s^2)) with
# s = f / (2 + f), R a degree-7 minimax polynomial.
_LP1 = 6.666666666666735130e-01
_LP2 = 3.999999999940941908e-01
_LP3 = 2.857142874366239149e-01
_LP4 = 2.222219843214978396e-01
_LP5 = 1.818357216161805012e-01
_LP6 = 1.531383769920937332e-01
_LP7 = 1.479819860511658591e-01
_FD_LN2_HI = 6.93147180369123816490e-01
_FD_LN2_LO = 1.90821492927058770002e-10
_SQRT2_M1 = 0.41421356237309503


@njit
def log1p01(x):
    """``log1p(x)`` for a float64 ``x`` in ``[0, 1]`` (or NaN); branch-free, < 1 ulp.

    fdlibm's algorithm with its two cases as selects: below ``sqrt(2) - 1`` the
    argument is used as is (``k = 0``); above, ``1 + x = 2 (1 + f)`` with ``f`` exact
    and the rounding error of ``1 + x`` carried as the correction ``c`` (``k = 1``).
    """
    u = 1.0 + x
    big = x >= _SQRT2_M1
    f = u * 0.5 - 1.0 if big else x
    c = (x - (u - 1.0)) / u if big else 0.0
    k = 1.0 if big else 0.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    R = fma(_LP7, z, _LP6)
    R = fma(R, z, _LP5)
    R = fma(R, z, _LP4)
    R = fma(R, z, _LP3)
    R = fma(R, z, _LP2)
    R = fma(R, z, _LP1)
    R = R * z
    return k * _FD_LN2_HI - ((hfsq - (s * (hfsq + R) + (k * _FD_LN2_LO + c))) - f)


@njit(inline="always")
def _term(v, square):
    x = np.float64(v)  # float() of a float32 stays float32 in Numba
    return x * x if square else x


# Compiled on its own (once per array type), not inlined at the Numba level: each
# Numba-level inline deep-copies the callee's IR with its nine inlined ``_term`` copies,
# 2 s of the first-use compile over the six call sites. LLVM still inlines it.
@njit
def _lanes8(w, lo, hi, square):
    # Eight independent chains run ~8x faster than one chain of dependent adds (without
    # reassociation LLVM may not vectorise a float sum); the order depends on hi - lo.
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    m = lo + (hi - lo) // 8 * 8
    for i in range(lo, m, 8):
        a0 += _term(w[i], square)
        a1 += _term(w[i + 1], square)
        a2 += _term(w[i + 2], square)
        a3 += _term(w[i + 3], square)
        a4 += _term(w[i + 4], square)
        a5 += _term(w[i + 5], square)
        a6 += _term(w[i + 6], square)
        a7 += _term(w[i + 7], square)
    total = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
    for i in range(m, hi):
        total += _term(w[i], square)
    return total


@njit(inline="always")
def lane_sum8(w, lo, hi):
    """``sum(w[lo:hi])`` in float64, in a fixed order: eight interleaved partial sums
    (element ``lo + i`` goes to lane ``i % 8``), combined pairwise, then the tail in
    order. The order depends on ``hi - lo`` only, so the sum is bit-reproducible."""
    return _lanes8(w, lo, hi, False)


@njit(inline="always")
def lane_sumsq8(w, lo, hi):
    """``sum(w[lo:hi] ** 2)`` with each square formed in float64, summed as :func:`lane_sum8`."""
    return _lanes8(w, lo, hi, True)
