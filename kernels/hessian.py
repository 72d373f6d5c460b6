"""Exact Hessian-vector products of the mean training loss of one network.

Pearlmutter's R-operator (forward-over-reverse): for a direction ``v`` (packed like the
parameters, ``dW_k, db_k``), the forward tangents are ``Rz_k = dW_k^T h_{k-1} + db_k +
W_k^T Rh_{k-1}`` (plus ``Rh`` of a skip source) and ``Rh_k = act'(z_k) Rz_k``; the
backward of the R-pass is ``Rd_out = l''(z_out) Rz_out / n``, ``Rd_k = act'(z_k) Rdh_k +
act''(z_k) dh_k Rz_k`` with ``Rdh_{k-1} = dW_k d_k + W_k Rd_k``, and the product is
``(Hv)_{W_k} = Rh_{k-1} d_k^T + h_{k-1} Rd_k^T``, ``(Hv)_{b_k} = sum_s Rd_k``. Here
``d_k = dL/dz_k`` and ``dh_k = dL/dh_k`` of the ordinary backward pass.

Two phases, so an eigen-solver pays the point-dependent work once:

* :func:`hessian_prepare` (once per point ``params, X, y``): forward pass, loss
  gradient and curvature, a backward pass that keeps ``dh``, and the per-unit factors
  ``A = act'(z)`` and ``Q = act''(z) dh`` (``Q = l''/n`` on the output row). No
  transcendental function is evaluated again after this.
* :func:`hessian_apply` (once per vector): the R-forward and the R-backward, built from
  the same vector micro-kernels as the gradient (:func:`dense.affine`,
  :func:`dense.weight_grad`). Each product that sums two terms is one affine call over a
  stacked operand: the forward multiplies ``[W_k; dW_k]`` (``2 fan_in x fan_out``) by
  the rows ``[Rh_{k-1}; h_{k-1}]``, the backward ``[W_k | dW_k]`` (``fan_in x 2
  fan_out``) by ``[Rd_k; d_k]``, so the activation buffers keep each layer's tangent
  rows next to its primal rows. Cost per sample: ``12 S - 8 w_1`` FLOPs (``S =
  sum fan_in fan_out``, ``w_1`` the first layer's), twice a gradient's ``6 S - 2 w_1``.

Everything lives in one workspace of the parameters' dtype (:func:`workspace_size`),
so the batched trainer can keep one per network and call these on its own buffers:
rows are ``ld >= n`` apart (pad to cache lines with ``buffers.padded_ld``), inputs ``X``
feature-major with the same ``ld``. Sums run in the kernels' fixed orders, so results
are bit-reproducible.
"""

from __future__ import annotations

from . import _compat
from ._jit import njit
from .activations import scale_by_derivative
from .dense import I0, I1, affine, forward_flat, skip_source, unit_offset, weight_grad
from .losses import bce_flat, mse_flat
from .second_derivatives import BCE, MSE, loss_second_flat, scale_by_second_derivative

ERR_CODE = 1  # an activation or loss code with no branch in a compiled dispatcher


@njit(inline="always")
def _units(table):
    u = 0
    for k in range(table.shape[0]):
        u += table[k, 1]
    return u


@njit(inline="always")
def _max_fan_out(table):
    m = 0
    for k in range(table.shape[0]):
        m = max(m, table[k, 1])
    return m


@njit
def workspace_size(table, ld, n_params):
    """Elements of the workspace of :func:`hessian_prepare` / :func:`hessian_apply`.

    Rows of ``ld``: ``RZ`` (``Rz``; ``Z`` while preparing), ``QB`` (``Q``; ``H`` while
    preparing), ``AB`` (``act'``), ``TF`` (``[Rh_k; h_k]`` per layer), ``TB`` (``[Rd_k;
    d_k]`` per layer), ``WD`` (a residual add); then the stacked weights ``CF``
    (``2 P - U``) and ``CB`` (``2 (P - U)``), a gradient scratch ``G2`` (``P``) and two
    vectors ``VIN``, ``VOUT`` (``P`` each) for solvers. ``U`` = units, ``P`` = parameters.
    """
    u = _units(table)
    weights = (2 * n_params - u) + 2 * (n_params - u) + 3 * n_params
    return (7 * u + _max_fan_out(table)) * ld + weights


@njit(inline="always")
def _views(ws, table, ld, n_params):
    u = _units(table)
    rows = u * ld
    o = 0
    RZ = ws[o : o + rows]
    o += rows
    QB = ws[o : o + rows]
    o += rows
    AB = ws[o : o + rows]
    o += rows
    TF = ws[o : o + 2 * rows]
    o += 2 * rows
    TB = ws[o : o + 2 * rows]
    o += 2 * rows
    nwd = _max_fan_out(table) * ld
    WD = ws[o : o + nwd]
    o += nwd
    CF = ws[o : o + 2 * n_params - u]
    o += 2 * n_params - u
    CB = ws[o : o + 2 * (n_params - u)]
    o += 2 * (n_params - u)
    G2 = ws[o : o + n_params]
    o += n_params
    VIN = ws[o : o + n_params]
    o += n_params
    VOUT = ws[o : o + n_params]
    return RZ, QB, AB, TF, TB, WD, CF, CB, G2, VIN, VOUT


@njit
def solver_vectors(ws, table, ld, n_params):
    """The two parameter-sized vectors ``(VIN, VOUT)`` at the end of the workspace."""
    v = _views(ws, table, ld, n_params)
    return v[9], v[10]


# Elementwise passes over local views: with offsets inside the loop LLVM does not
# vectorise them (measured 6x slower in float64, 40x in float32; see activations.py).


@njit(inline="always")
def _copy(src, so, dst, do, count):
    """``dst[do:do+count] = src[so:so+count]``."""
    s = src[so : so + count]
    d = dst[do : do + count]
    for i in range(count):
        d[i] = s[i]


@njit(inline="always")
def _add(src, so, dst, do, count):
    """``dst[do:do+count] += src[so:so+count]``."""
    s = src[so : so + count]
    d = dst[do : do + count]
    for i in range(count):
        d[i] += s[i]


@njit(inline="always")
def _mul(a, ao, b, bo, dst, do, count):
    """``dst[do:do+count] = a[ao:ao+count] * b[bo:bo+count]``."""
    x = a[ao : ao + count]
    y = b[bo : bo + count]
    d = dst[do : do + count]
    for i in range(count):
        d[i] = x[i] * y[i]


@njit(inline="always")
def _r_delta(a, q, rz, o, dst, do, count):
    """``dst = a * dst + q * rz`` (``a, q, rz`` from offset ``o``): ``Rd`` from ``Rdh``."""
    x = a[o : o + count]
    y = q[o : o + count]
    r = rz[o : o + count]
    d = dst[do : do + count]
    for i in range(count):
        d[i] = x[i] * d[i] + y[i] * r[i]


@njit(inline="always")
def _loss_grad(code, Y, yo, y, n, dY, do, work):
    """Mean loss and ``dL/dz_out`` into ``dY``; ``(loss, err)``."""
    if code == BCE:
        return bce_flat(Y, yo, y, n, dY, do, work), 0
    elif code == MSE:
        return mse_flat(Y, yo, y, n, dY, do, work), 0
    return 0.0, ERR_CODE


@njit
def hessian_prepare(P, table, X, y, n, ld, act, alpha, rblock, loss_code, ws, work):
    """Everything of the point ``(P, X, y)`` that every Hessian-vector product reuses.

    Parameters
    ----------
    P : (n_params,) float32/float64; table : layout table; X : ``n_in`` rows ``ld`` apart;
    y : (n,) targets; n, ld : samples and row stride; act, alpha, rblock, loss_code : as
    in the trainer; ws : workspace of :func:`workspace_size` elements, P's dtype (its
    padding columns must hold finite values, e.g. zeros, once); work : float64 (>= n).

    Returns
    -------
    (loss, err) : the mean loss at the point, and 0 or :data:`ERR_CODE`.
    """
    nl = table.shape[0]
    nh = nl - 1
    npar = P.shape[0]
    RZ, QB, AB, TF, TB, WD, CF, CB, G2, VIN, VOUT = _views(ws, table, ld, npar)
    # Z into RZ and H into QB: both are free until hessian_apply / the backward below.
    forward_flat(P, table, X, RZ, QB, n, ld, act, alpha, rblock, I1)
    for k in range(nh):
        u = unit_offset(table, k)
        fo = table[k, 1]
        _copy(QB, u * ld, TF, (2 * u + fo) * ld, fo * ld)
    out_row = unit_offset(table, nh)
    loss, err = _loss_grad(loss_code, RZ, out_row * ld, y, n, TB, (2 * out_row + 1) * ld, work)
    err |= loss_second_flat(loss_code, RZ, out_row * ld, n, QB, out_row * ld)
    hidden = out_row * ld
    ones = AB[:hidden]
    for i in range(hidden):
        ones[i] = 1
    scale_by_derivative(RZ, 0, AB, 0, hidden, act, alpha)
    # The weights' half of the stacked operands (the direction's half: hessian_apply).
    for k in range(1, nl):
        fi = table[k, 0]
        fo = table[k, 1]
        wo = table[k, 2]
        u = unit_offset(table, k)
        cf = 2 * wo - u
        cb = 2 * (wo - u)
        _copy(P, wo, CF, cf, fi * fo)
        for i in range(fi):
            _copy(P, wo + i * fo, CB, cb + i * 2 * fo, fo)
    # Backward pass keeping dh: QB rows of layer k hold dh_k until they become Q_k.
    for k in range(nl - 1, -1, -1):
        fi = table[k, 0]
        fo = table[k, 1]
        wo = table[k, 2]
        row = unit_offset(table, k)
        d_off = (2 * row + fo) * ld
        if k < nh:
            _copy(QB, row * ld, TB, d_off, fo * ld)
            scale_by_derivative(RZ, row * ld, TB, d_off, fo * ld, act, alpha)
            err |= scale_by_second_derivative(RZ, row * ld, QB, row * ld, fo * ld, act, alpha)
            src = skip_source(k, nh, rblock)
            if src >= 0:
                # The skip is the first contribution its source receives (as in dense.py).
                _copy(TB, d_off, QB, unit_offset(table, src) * ld, fo * ld)
        if k > 0:
            below = unit_offset(table, k - 1)
            if rblock > 0 and skip_source(k - 1 + rblock, nh, rblock) == k - 1:
                affine(P, wo, fo, I1, fi, fo, I0, I1, TB, d_off, WD, I0, n, ld, WD, I0, I0)
                _add(WD, I0, QB, below * ld, fi * ld)
            else:
                affine(P, wo, fo, I1, fi, fo, I0, I1, TB, d_off, QB, below * ld, n, ld, QB, I0, I0)
    return loss, err


@njit
def hessian_apply(P, table, X, n, ld, rblock, ws, v, out):
    """``out = H v``: the Hessian of the mean loss at the prepared point times ``v``.

    ``P, table, X, n, ld, rblock`` and ``ws`` as given to :func:`hessian_prepare`; ``v``
    and ``out`` are (n_params,) in P's dtype (they may be ``solver_vectors(ws, ...)``).
    """
    nl = table.shape[0]
    nh = nl - 1
    npar = P.shape[0]
    RZ, QB, AB, TF, TB, WD, CF, CB, G2, VIN, VOUT = _views(ws, table, ld, npar)
    for k in range(1, nl):
        fi = table[k, 0]
        fo = table[k, 1]
        wo = table[k, 2]
        bo = table[k, 3]
        u = unit_offset(table, k)
        cf = 2 * wo - u
        cb = 2 * (wo - u)
        _copy(v, wo, CF, cf + fi * fo, fi * fo)
        _copy(v, bo, CF, cf + 2 * fi * fo, fo)
        for i in range(fi):
            _copy(v, wo + i * fo, CB, cb + i * 2 * fo + fo, fo)
    # R-forward: Rz_k into RZ, Rh_k = act'(z_k) Rz_k into the tangent rows of TF.
    for k in range(nl):
        fi = table[k, 0]
        fo = table[k, 1]
        row = unit_offset(table, k)
        if k == 0:
            affine(v, table[0, 2], I1, fo, fo, fi, table[0, 3], I0, X, I0, RZ, I0, n, ld, RZ,
                   I0, I0)  # fmt: skip
        else:
            cf = 2 * table[k, 2] - row
            prev = unit_offset(table, k - 1)
            affine(CF, cf, I1, fo, fo, 2 * fi, cf + 2 * fi * fo, I0, TF, 2 * prev * ld, RZ,
                   row * ld, n, ld, RZ, I0, I0)  # fmt: skip
        if k < nh:
            src = skip_source(k, nh, rblock)
            if src >= 0:
                _add(TF, 2 * unit_offset(table, src) * ld, RZ, row * ld, fo * ld)
            _mul(AB, row * ld, RZ, row * ld, TF, 2 * row * ld, fo * ld)
    # R-backward: the tangent rows of TB hold Rdh_k until they become Rd_k.
    out_row = unit_offset(table, nh)
    _mul(QB, out_row * ld, RZ, out_row * ld, TB, 2 * out_row * ld, table[nh, 1] * ld)
    for k in range(nl - 1, -1, -1):
        fi = table[k, 0]
        fo = table[k, 1]
        wo = table[k, 2]
        bo = table[k, 3]
        row = unit_offset(table, k)
        rd = 2 * row * ld
        if k < nh:
            _r_delta(AB, QB, RZ, row * ld, TB, rd, fo * ld)
            src = skip_source(k, nh, rblock)
            if src >= 0:
                _copy(TB, rd, TB, 2 * unit_offset(table, src) * ld, fo * ld)
        if k == 0:
            weight_grad(X, I0, TB, rd, n, ld, out, wo, bo, fi, fo)
        else:
            prev = unit_offset(table, k - 1)
            # h_{k-1} Rd_k^T (and the bias sum of Rd_k), then Rh_{k-1} d_k^T added.
            weight_grad(TF, (2 * prev + fi) * ld, TB, rd, n, ld, out, wo, bo, fi, fo)
            weight_grad(TF, 2 * prev * ld, TB, rd + fo * ld, n, ld, G2, wo, bo, fi, fo)
            _add(G2, wo, out, wo, fi * fo)
            cb = 2 * (wo - row)
            if rblock > 0 and skip_source(k - 1 + rblock, nh, rblock) == k - 1:
                affine(CB, cb, 2 * fo, I1, fi, 2 * fo, I0, I1, TB, rd, WD, I0, n, ld, WD, I0, I0)
                _add(WD, I0, TB, 2 * prev * ld, fi * ld)
            else:
                affine(CB, cb, 2 * fo, I1, fi, 2 * fo, I0, I1, TB, rd, TB, 2 * prev * ld, n, ld,
                       TB, I0, I0)  # fmt: skip


@njit
def hvp_flat(P, table, X, y, n, ld, act, alpha, rblock, loss_code, v, out, ws, work):
    """Prepare and apply once: ``out = H v``; returns ``(loss, err)`` of the preparation."""
    loss, err = hessian_prepare(P, table, X, y, n, ld, act, alpha, rblock, loss_code, ws, work)
    if err == 0:
        hessian_apply(P, table, X, n, ld, rblock, ws, v, out)
    return loss, err


# Their own code is optimised before the kernels they call are linked in (every call is
# a whole layer or a whole product): see _compat.optimise_before_linking.
_compat.optimise_before_linking(__name__, ("hessian_prepare", "hessian_apply", "hvp_flat"))
