"""Activations and their derivatives, evaluated from the pre-activation ``z``.

Codes are in :data:`vocab.ACTIVATIONS`. ``alpha`` is the negative slope of
``leaky_relu`` and the scale of ``elu`` (ignored otherwise). ``gelu`` is the exact
erf form ``0.5 z (1 + erf(z / sqrt 2))`` (PyTorch's default), not the tanh
approximation. The ReLU derivative is the mask ``z > 0`` (0 at 0, as PyTorch).

``tanh``, ``sigmoid``, ``silu``, ``elu`` and ``gelu`` use the branch-free functions of
:mod:`vmath` (within 3 ulp of libm), so their loops vectorise; they are evaluated in
float64 for float32 data too and rounded once at the store. ``gelu``'s ``erf`` is
:func:`vmath.verf` (Cephes' rational approximations, one division): 1.3 ns per element
against 7.9 for libm's scalar ``math.erf`` (a loop over 4096 values, AMD EPYC Zen 4).
Until 2026-12 gelu called ``math.erf``; the change moved gelu runs' bits by a few ulp
per element.

The backward pass of a network calls :func:`scale_by_derivative_h`, which takes the
derivative of ``tanh`` and ``sigmoid`` from the stored activation ``h`` instead of
evaluating the function again: for float64 ``h`` is exactly the float64 value the
derivative formula would recompute, so the bits are the same; for float32 ``h`` is
rounded, so float32 keeps recomputing from ``z``.

A training step goes further for float64 ``gelu`` (:func:`factor_in_z`): its forward,
:func:`gelu_and_factor`, evaluates ``erf`` once for both ``h`` and the derivative factor
and leaves the factor in ``Z``; the backward, :func:`scale_by_factor`, only multiplies.
The factor is the expression :func:`scale_by_derivative` evaluates, operand for
operand, so the float64 bits are the same with one ``erf`` fewer per element.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit
from .vmath import verf, vexp, vexpm1_neg, vsigmoid, vtanh
from .vocab import ACTIVATIONS

# Module-level ints: Numba freezes them into the compiled branches.
IDENTITY = ACTIVATIONS["identity"]
RELU = ACTIVATIONS["relu"]
LEAKY_RELU = ACTIVATIONS["leaky_relu"]
TANH = ACTIVATIONS["tanh"]
SIGMOID = ACTIVATIONS["sigmoid"]
ELU = ACTIVATIONS["elu"]
GELU = ACTIVATIONS["gelu"]
SILU = ACTIVATIONS["silu"]
_INV_SQRT2 = 0.7071067811865476
_INV_SQRT2PI = 0.3989422804014327


@njit(inline="always")
def _sigmoid(z):
    return vsigmoid(np.float64(z))  # float() of a float32 stays float32 in Numba


@njit(inline="always")
def _gelu(z):
    """``(gelu(z), gelu'(z))`` in float64 from one ``erf``: ``0.5 z (1 + erf(z / sqrt 2))``
    and ``cdf + z pdf``. Every gelu loop calls this one expression (LLVM drops the half a
    loop does not store), so a training step's stored factor has the derivative's bits."""
    z = np.float64(z)
    e = verf(z * _INV_SQRT2)
    pdf = _INV_SQRT2PI * vexp(-0.5 * z * z)
    return 0.5 * z * (1.0 + e), 0.5 * (1.0 + e) + z * pdf


@njit
def apply_activation(Z, zo, H, ho, count, code, alpha):
    """``H[ho:ho+count] = act(Z[zo:zo+count])``; one loop per code so each vectorises.

    Returns True, or False (and writes nothing) for a code with no branch here.
    """
    # Local views and select-form branches: indexing with offsets inside the loop
    # and if-statements that store kept LLVM from vectorising (16x slower).
    zv = Z[zo : zo + count]
    hv = H[ho : ho + count]
    if code == RELU:
        for i in range(count):
            z = zv[i]
            hv[i] = z if z > 0 else z * 0
    elif code == IDENTITY:
        for i in range(count):
            hv[i] = zv[i]
    elif code == LEAKY_RELU:
        for i in range(count):
            z = zv[i]
            hv[i] = z if z > 0 else alpha * z
    elif code == TANH:
        for i in range(count):
            hv[i] = vtanh(np.float64(zv[i]))
    elif code == SIGMOID:
        for i in range(count):
            hv[i] = _sigmoid(zv[i])
    elif code == ELU:
        for i in range(count):
            z = zv[i]
            hv[i] = z if z > 0 else alpha * vexpm1_neg(np.float64(z))
    elif code == GELU:
        for i in range(count):
            hv[i] = _gelu(zv[i])[0]
    elif code == SILU:
        for i in range(count):
            z = zv[i]
            hv[i] = z * _sigmoid(z)
    else:
        return False
    return True


@njit
def scale_by_derivative(Z, zo, G, go, count, code, alpha):
    """``G[go:go+count] *= act'(Z[zo:zo+count])`` (turns dL/dh into dL/dz in place).

    Returns True, or False (and writes nothing) for a code with no branch here.
    """
    zv = Z[zo : zo + count]
    gv = G[go : go + count]
    if code == RELU:
        for i in range(count):
            g = gv[i]
            gv[i] = g if zv[i] > 0 else g * 0
    elif code == IDENTITY:
        pass
    elif code == LEAKY_RELU:
        for i in range(count):
            g = gv[i]
            gv[i] = g if zv[i] > 0 else g * alpha
    elif code == TANH:
        for i in range(count):
            t = vtanh(np.float64(zv[i]))
            gv[i] = gv[i] * (1.0 - t * t)
    elif code == SIGMOID:
        for i in range(count):
            s = _sigmoid(zv[i])
            gv[i] = gv[i] * (s * (1.0 - s))
    elif code == ELU:
        for i in range(count):
            z = zv[i]
            g = gv[i]
            gv[i] = g if z > 0 else g * (alpha * vexp(min(np.float64(z), 0.0)))
    elif code == GELU:
        for i in range(count):
            gv[i] = gv[i] * _gelu(zv[i])[1]
    elif code == SILU:
        for i in range(count):
            z = zv[i]
            s = _sigmoid(z)
            gv[i] = gv[i] * (s * (1.0 + z * (1.0 - s)))
    else:
        return False
    return True


@njit
def scale_by_derivative_h(Z, H, zo, G, go, count, code, alpha):
    """:func:`scale_by_derivative` given also the activations ``H`` (same offset ``zo``).

    float64 ``tanh`` and ``sigmoid`` take the derivative from ``h``: ``1 - h^2`` and
    ``h (1 - h)``, the same bits as from ``z`` (``h`` is the float64 value
    ``scale_by_derivative`` recomputes) at a fraction of the cost. Everything else, and
    float32, is :func:`scale_by_derivative`.
    """
    if H.itemsize == 8 and (code == TANH or code == SIGMOID):
        hv = H[zo : zo + count]
        gv = G[go : go + count]
        if code == TANH:
            for i in range(count):
                t = hv[i]
                gv[i] = gv[i] * (1.0 - t * t)
        else:
            for i in range(count):
                s = hv[i]
                gv[i] = gv[i] * (s * (1.0 - s))
        return True
    return scale_by_derivative(Z, zo, G, go, count, code, alpha)


@njit(inline="always")
def factor_in_z(code, Z):
    """Whether a training forward leaves ``act'(z)`` in ``Z`` instead of ``z``: float64 gelu.

    float32 keeps ``z``: the factor stored in float32 would be rounded, which changes the
    bits of the backward (it evaluates the factor in float64 from ``z``)."""
    return code == GELU and Z.itemsize == 8


@njit
def gelu_and_factor(Z, zo, H, ho, count):
    """``H = gelu(Z)`` and ``Z = gelu'(Z)`` in place, from one ``erf`` per element.

    ``h`` is :func:`apply_activation`'s expression and the factor is
    :func:`scale_by_derivative`'s ``cdf + z * pdf``, each on the same operands in the
    same order, so both carry the bits the two would compute separately (no fastmath
    contraction: :data:`settings.FASTMATH` is empty).
    """
    zv = Z[zo : zo + count]
    hv = H[ho : ho + count]
    for i in range(count):
        h, f = _gelu(zv[i])
        hv[i] = h
        zv[i] = f


@njit
def scale_by_factor(F, fo, G, go, count):
    """``G[go:go+count] *= F[fo:fo+count]``: dL/dh to dL/dz given the stored ``act'(z)``."""
    fv = F[fo : fo + count]
    gv = G[go : go + count]
    for i in range(count):
        gv[i] = gv[i] * fv[i]
