"""Per-layer diagnostics of one network, written into a caller's array at an offset.

Sums of squares are formed in float64 and summed by :func:`vmath.lane_sumsq8` (a fixed
order, eight independent chains), per row of samples, then across a layer's rows.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit
from .optim import grad_norm
from .vmath import lane_sumsq8
from .vocab import ACTIVATIONS, SATURATION, UNIT_STATES

# What each activation code's units are measured by (vocab.Activation.units) and the
# centre / half-width of its range for saturation, indexed by activation code. Numba
# freezes module-level arrays into the compiled code; the kernels' cache stamp covers
# vocab.py, so a change there recompiles.
UNITS_DEAD = UNIT_STATES["dead"]
UNITS_SATURATED = UNIT_STATES["saturated"]
UNITS_NONE = UNIT_STATES["none"]
UNITS_OF_ACT = np.array([UNIT_STATES[e.units] for e in ACTIVATIONS.entries], np.int64)
RANGE_CENTRE = np.array(
    [0.0 if e.out_range is None else 0.5 * (e.out_range[0] + e.out_range[1])
     for e in ACTIVATIONS.entries]
)  # fmt: skip
RANGE_HALF = np.array(
    [0.0 if e.out_range is None else 0.5 * (e.out_range[1] - e.out_range[0])
     for e in ACTIVATIONS.entries]
)  # fmt: skip


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


@njit
def saturated_fractions_flat(H, table, n, ld, centre, half, out, oo):
    """``out[oo + k]`` = share of hidden layer ``k``'s units that are saturated.

    A unit is saturated when ``|h - centre| > SATURATION * half`` on every sample
    (:data:`vocab.SATURATION`; the activation's range is ``(centre - half, centre +
    half)``), compared in float64. Returns 1 if some hidden layer is entirely saturated,
    else 0. A NaN activation is not saturated, so a diverged layer is not reported.
    """
    bound = SATURATION * half
    u = 0
    any_full_layer = 0
    for k in range(table.shape[0] - 1):
        fo = table[k, 1]
        sat = 0
        for j in range(fo):
            free = False
            base = (u + j) * ld
            for s in range(n):
                if not abs(np.float64(H[base + s]) - centre) > bound:
                    free = True
                    break
            if not free:
                sat += 1
        out[oo + k] = sat / fo
        if sat == fo:
            any_full_layer = 1
        u += fo
    return any_full_layer


@njit
def unit_fractions_flat(Z, H, table, n, ld, act, out, oo):
    """The unit-state fractions of activation code ``act`` into ``out[oo:oo + depth]``.

    Dead fractions (:func:`dead_fractions_flat`) for the ReLU family, saturated fractions
    (:func:`saturated_fractions_flat`) for tanh and sigmoid, NaN for activations without
    a measure (``vocab.Activation.units``). Returns ``(flag, known)``: ``flag`` is 1.0
    when some hidden layer is entirely in that state (0.0 if none, NaN without a
    measure); ``known`` is False, with nothing written, for a code outside the table.
    """
    if act < 0 or act >= UNITS_OF_ACT.shape[0]:
        return np.nan, False
    units = UNITS_OF_ACT[act]
    if units == UNITS_DEAD:
        return np.float64(dead_fractions_flat(Z, table, n, ld, out, oo)), True
    if units == UNITS_SATURATED:
        flag = saturated_fractions_flat(H, table, n, ld, RANGE_CENTRE[act], RANGE_HALF[act], out,
                                        oo)  # fmt: skip
        return np.float64(flag), True
    if units == UNITS_NONE:
        for k in range(table.shape[0] - 1):
            out[oo + k] = np.nan
        return np.nan, True
    return np.nan, False
