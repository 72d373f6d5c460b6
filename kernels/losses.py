"""Losses on the output units with their gradient, and accuracy. Means over samples.

Both losses write each sample's loss term to a float64 scratch ``work`` (length >= n)
and sum it with :func:`vmath.lane_sum8`: with the sum out of the per-sample loop, that
loop has no loop-carried dependence and vectorises (BCE through the branch-free
``vmath.vexp`` / ``vmath.log1p01``). Terms and gradients are formed in float64 whatever
the dtype; the gradient is rounded to the dtype once, at its store.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit
from .vmath import lane_sum8, log1p01, sigmoid_from_e, vexp
from .vocab import LOSSES

BCE = LOSSES["bce"]
MSE = LOSSES["mse"]


@njit
def bce_flat(Y, yo, target, n, dY, do, work):
    """Mean BCE with logits ``Y[yo:yo+n]``; writes dL/dlogit to ``dY[do:]``; returns the loss.

    Stable form ``max(z, 0) - z y + log1p(exp(-|z|))``; the gradient is
    ``(sigmoid(z) - y) / n`` with ``sigmoid(z) = 1 / (1 + e)`` for ``z >= 0`` and
    ``e / (1 + e)`` otherwise (``e = exp(-|z|)``), so neither side overflows.
    """
    inv_n = 1.0 / n
    for s in range(n):
        z = np.float64(Y[yo + s])
        y = np.float64(target[s])
        e = vexp(-abs(z))
        work[s] = (z if z > 0.0 else 0.0) - z * y + log1p01(e)
        dY[do + s] = (sigmoid_from_e(z, e) - y) * inv_n
    return lane_sum8(work, 0, n) * inv_n


@njit
def mse_flat(Y, yo, target, n, dY, do, work):
    """Mean squared error ``mean((z - y)^2)``; writes ``2 (z - y) / n`` to ``dY``.

    Returns the loss.
    """
    inv_n = 1.0 / n
    for s in range(n):
        r = Y[yo + s] - target[s]
        work[s] = np.float64(r) * np.float64(r)
        dY[do + s] = 2.0 * r * inv_n
    return lane_sum8(work, 0, n) * inv_n


@njit
def loss_flat(code, Y, yo, target, n, dY, do, work):
    """Dispatch on the loss code (:data:`vocab.LOSSES`); returns ``(loss, known)``.

    ``known`` is False (loss NaN, nothing written) for a code with no branch here.
    """
    if code == BCE:
        return bce_flat(Y, yo, target, n, dY, do, work), True
    elif code == MSE:
        return mse_flat(Y, yo, target, n, dY, do, work), True
    return np.nan, False


@njit
def accuracy_flat(Y, yo, target, n):
    """Share of samples with ``(logit > 0) == (y > 0.5)``."""
    hits = 0
    for s in range(n):
        if (Y[yo + s] > 0) == (target[s] > 0.5):
            hits += 1
    return hits / n
