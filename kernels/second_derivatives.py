"""Second derivatives of the activations and the losses, for Hessian-vector products.

The first derivatives are in :mod:`activations` (``scale_by_derivative``) and
:mod:`losses`; these are their derivatives, with the same conventions. Each
dispatcher names every code it knows and returns 1 (writing nothing) for any other,
so a code added to :mod:`vocab` without a branch here is an error, never a silently
wrong Hessian.

Piecewise-linear activations (identity, relu, leaky_relu) have ``act'' = 0`` wherever
it exists; at the kink ``z = 0`` it does not, and the R-operator uses ``act'(0)`` of
:mod:`activations` (0 for relu, ``alpha`` for leaky_relu) and ``act''(0) = 0``: the
Hessian of the network with that unit frozen on the ``z < 0`` side, i.e. of the
piecewise-quadratic loss on the linear region the gradient uses. ``elu`` takes the
``z <= 0`` branch at 0 for both derivatives, as ``scale_by_derivative`` does.

Values are formed in float64 (float32 data too) and rounded once at the store, like
:mod:`activations`; ``exp``, ``tanh`` and ``sigmoid`` are the branch-free
:mod:`vmath` functions, so the loops vectorise.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit
from .vmath import vexp, vsigmoid, vtanh
from .vocab import ACTIVATIONS, LOSSES

IDENTITY = ACTIVATIONS["identity"]
RELU = ACTIVATIONS["relu"]
LEAKY_RELU = ACTIVATIONS["leaky_relu"]
TANH = ACTIVATIONS["tanh"]
SIGMOID = ACTIVATIONS["sigmoid"]
ELU = ACTIVATIONS["elu"]
GELU = ACTIVATIONS["gelu"]
SILU = ACTIVATIONS["silu"]
BCE = LOSSES["bce"]
MSE = LOSSES["mse"]

_INV_SQRT2PI = 0.3989422804014327


@njit
def scale_by_second_derivative(Z, zo, G, go, count, code, alpha):
    """``G[go:go+count] *= act''(Z[zo:zo+count])``; returns 0, or 1 for an unknown code.

    ``tanh'' = -2 t (1 - t^2)``, ``sigmoid'' = s (1 - s) (1 - 2 s)``, ``elu'' = alpha e^z``
    (``z <= 0``), ``gelu'' = phi(z) (2 - z^2)``, ``silu'' = s (1 - s) (2 + z (1 - 2 s))``.
    A product with 0 (piecewise-linear codes) keeps NaN and inf in ``G`` visible.
    """
    zv = Z[zo : zo + count]
    gv = G[go : go + count]
    if code == IDENTITY or code == RELU or code == LEAKY_RELU:
        for i in range(count):
            gv[i] = gv[i] * 0
    elif code == TANH:
        for i in range(count):
            t = vtanh(np.float64(zv[i]))
            gv[i] = gv[i] * (-2.0 * t * (1.0 - t * t))
    elif code == SIGMOID:
        for i in range(count):
            s = vsigmoid(np.float64(zv[i]))
            gv[i] = gv[i] * (s * (1.0 - s) * (1.0 - 2.0 * s))
    elif code == ELU:
        for i in range(count):
            z = np.float64(zv[i])
            gv[i] = gv[i] * (0.0 if z > 0.0 else alpha * vexp(min(z, 0.0)))
    elif code == GELU:
        for i in range(count):
            z = np.float64(zv[i])
            gv[i] = gv[i] * (_INV_SQRT2PI * vexp(-0.5 * z * z) * (2.0 - z * z))
    elif code == SILU:
        for i in range(count):
            z = np.float64(zv[i])
            s = vsigmoid(z)
            gv[i] = gv[i] * (s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s)))
    else:
        return 1
    return 0


@njit
def loss_second_flat(code, Y, yo, n, d2, do):
    """``d2[do + s] = l''(Y[yo + s]) / n``, the curvature of the mean loss in each output.

    bce: ``sigmoid(z) (1 - sigmoid(z)) = e / (1 + e)^2`` with ``e = exp(-|z|)`` (no
    cancellation for large ``|z|``, no overflow); mse: ``2``. Returns 0, or 1 for an
    unknown code.
    """
    inv_n = 1.0 / n
    if code == BCE:
        for s in range(n):
            z = np.float64(Y[yo + s])
            e = vexp(-abs(z))
            d2[do + s] = e / ((1.0 + e) * (1.0 + e)) * inv_n
    elif code == MSE:
        for s in range(n):
            d2[do + s] = 2.0 * inv_n
    else:
        return 1
    return 0
