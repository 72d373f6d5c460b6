"""Losses on the output units with their gradient, and accuracy. Means over samples."""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit


@njit
def bce_flat(Y, yo, target, n, dY, do):
    """Mean BCE with logits ``Y[yo:yo+n]``; writes dL/dlogit to ``dY[do:]``; returns the loss.

    Stable form ``max(z, 0) - z y + log1p(exp(-|z|))``; the gradient is
    ``(sigmoid(z) - y) / n``. The loss is accumulated in float64 whatever the dtype.
    """
    total = 0.0
    inv_n = 1.0 / n
    for s in range(n):
        z = Y[yo + s]
        y = target[s]
        az = abs(z)
        e = math.exp(-az)
        total += max(z, 0.0) - z * y + math.log1p(e)
        sig = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
        dY[do + s] = (sig - y) * inv_n
    return total * inv_n


@njit
def mse_flat(Y, yo, target, n, dY, do):
    """Mean squared error ``mean((z - y)^2)``; writes ``2 (z - y) / n`` to ``dY``.

    Returns the loss.
    """
    total = 0.0
    inv_n = 1.0 / n
    for s in range(n):
        r = Y[yo + s] - target[s]
        total += np.float64(r) * np.float64(r)
        dY[do + s] = 2.0 * r * inv_n
    return total * inv_n


@njit
def loss_flat(code, Y, yo, target, n, dY, do):
    """Dispatch on the loss code (0 = bce, 1 = mse)."""
    if code == 0:
        return bce_flat(Y, yo, target, n, dY, do)
    return mse_flat(Y, yo, target, n, dY, do)


@njit
def accuracy_flat(Y, yo, target, n):
    """Share of samples with ``(logit > 0) == (y > 0.5)``."""
    hits = 0
    for s in range(n):
        if (Y[yo + s] > 0) == (target[s] > 0.5):
            hits += 1
    return hits / n
