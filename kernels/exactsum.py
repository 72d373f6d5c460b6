"""The correctly rounded sum of a float64 array: ``math.fsum``'s result, compiled.

The study layer's summaries (means, standard deviations, total variation of every logged
curve) sum exactly, so that they cannot depend on summation order, blocking or memory
layout. ``math.fsum`` iterates a NumPy array one boxed Python float at a time, about 26
ns per element: with loss and gradient norms logged every step that was a quarter of a
small network's training time on one thread (w8 d16, minibatches of 16). This is
CPython's algorithm (``Modules/mathmodule.c``, Shewchuk's non-overlapping partials and
its half-even correction across partials) over a fixed buffer of partials: 9 ns per
element instead of 26 on 3200 random values (AMD EPYC Zen 4).
The correctly rounded sum is unique, so the result has ``math.fsum``'s bits.

Inputs that ``math.fsum`` treats specially (an infinity or NaN, an intermediate
overflow) are handed to ``math.fsum`` itself, which then returns, or raises, exactly
what it always did.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit
from ._validate import writable

# The partials are non-overlapping, so each holds at least one bit of the doubles' 2098-bit
# range: never more than 2098 of them (a handful for a curve of losses or norms).
MAX_PARTIALS = 2100
EXACT, FALLBACK = 0, 1


@njit
def fsum_flat(x):
    """``(sum, flag)``: ``math.fsum(x)`` and ``EXACT``, or ``(0.0, FALLBACK)`` where
    ``math.fsum`` must decide (a non-finite value or partial sum)."""
    p = np.empty(MAX_PARTIALS, np.float64)
    n = 0
    for k in range(x.shape[0]):
        v = x[k]
        if not math.isfinite(v):
            return 0.0, FALLBACK
        i = 0
        for j in range(n):
            y = p[j]
            if abs(v) < abs(y):
                v, y = y, v
            hi = v + y
            lo = y - (hi - v)
            if lo != 0.0:
                p[i] = lo
                i += 1
            v = hi
        n = i
        if v != 0.0:
            if not math.isfinite(v) or n >= MAX_PARTIALS:
                return 0.0, FALLBACK  # intermediate overflow: math.fsum raises
            p[n] = v
            n += 1
    hi = 0.0
    lo = 0.0
    if n > 0:
        n -= 1
        hi = p[n]
        while n > 0:
            v = hi
            n -= 1
            y = p[n]
            hi = v + y
            lo = y - (hi - v)
            if lo != 0.0:
                break
        # half-even rounding across partials (CPython: sum([1e-16, 1, 1e16]) rounds up)
        if n > 0 and ((lo < 0.0 and p[n - 1] < 0.0) or (lo > 0.0 and p[n - 1] > 0.0)):
            y = lo * 2.0
            v = hi + y
            if y == v - hi:
                hi = v
    return hi, EXACT


def exact_sum(x: np.ndarray) -> float:
    """The correctly rounded sum of ``x``: ``math.fsum(x)``, bit for bit.

    Parameters
    ----------
    x : array_like of float64, any shape
        Summed in full (flattened); converted to a contiguous float64 array first.

    Returns
    -------
    float
        ``0.0`` for an empty array; NaN or an infinity, or ``math.fsum``'s
        ``ValueError`` / ``OverflowError``, where ``math.fsum`` gives them.
    """
    a = np.ascontiguousarray(x, dtype=np.float64).ravel()
    total, flag = fsum_flat(writable(a))
    return float(total) if flag == EXACT else math.fsum(a)
