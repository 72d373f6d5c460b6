"""Per-layer diagnostics of one network, written into a caller's array at an offset.

Sums of squares are formed in float64 and summed by :func:`vmath.lane_sumsq8` (a fixed
order, eight independent chains), per row of samples, then across a layer's rows.
"""

from __future__ import annotations

import math

from ._jit import njit
from .optim import grad_norm
from .vmath import lane_sumsq8


@njit
def layer_grad_norms_flat(grad, table, out, oo):
    """``out[oo + k] = ||dL/dW_k||_F`` per layer (weights only); return the total norm.

    The total covers every parameter, biases included.
    """
    for k in range(table.shape[0]):
        wo = table[k, 2]
        out[oo + k] = math.sqrt(lane_sumsq8(grad, wo, wo + table[k, 0] * table[k, 1]))
    return grad_norm(grad)


@njit
def signal_norms_flat(D, table, n, ld, out, oo):
    """``out[oo + k] = ||dL/dz_k||_F`` over units and samples, every layer incl. output.

    ``n`` samples per unit, rows ``ld`` apart (as in every ``*_flat`` diagnostic here).
    """
    u = 0
    for k in range(table.shape[0]):
        fo = table[k, 1]
        acc = 0.0
        for j in range(u, u + fo):
            acc += lane_sumsq8(D, j * ld, j * ld + n)
        out[oo + k] = math.sqrt(acc)
        u += fo


@njit
def activation_sq_means_flat(H, table, n, ld, out, oo):
    """``out[oo + k] = mean(h_k^2)`` over units and samples, hidden layers only."""
    u = 0
    for k in range(table.shape[0] - 1):
        fo = table[k, 1]
        acc = 0.0
        for j in range(u, u + fo):
            acc += lane_sumsq8(H, j * ld, j * ld + n)
        out[oo + k] = acc / (fo * n)
        u += fo


@njit
def dead_fractions_flat(Z, table, n, ld, out, oo):
    """``out[oo + k]`` = share of hidden layer ``k``'s units with ``z <= 0`` on every sample.

    Returns 1 if some hidden layer is entirely dead (the network is *born dead*
    when this holds at initialisation), else 0. A NaN pre-activation is not
    ``<= 0``, so a diverged layer is not reported dead.
    """
    u = 0
    any_dead_layer = 0
    for k in range(table.shape[0] - 1):
        fo = table[k, 1]
        dead = 0
        for j in range(fo):
            alive = False
            base = (u + j) * ld
            for s in range(n):
                if not Z[base + s] <= 0:
                    alive = True
                    break
            if not alive:
                dead += 1
        out[oo + k] = dead / fo
        if dead == fo:
            any_dead_layer = 1
        u += fo
    return any_dead_layer
