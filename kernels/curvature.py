"""Public curvature kernels: Hessian-vector products and the top Hessian eigenvalues.

The Hessian is of the *mean* training loss over the samples given (the convention of
the gradient), with respect to every packed parameter; see :mod:`.hessian` for the
R-operator and :mod:`.lanczos` for the solver. Twins of the same names and signatures
are in :mod:`fastdepth.kernels.reference`.

Internally the samples are laid out as the trainer lays them (rows padded to whole
cache lines, 64-byte aligned workspace), so these calls run the code the trainer runs.
"""

from __future__ import annotations

import numpy as np

from . import _validate_curvature as vc
from ._validate import writable
from .buffers import padded_ld, padded_rows, zeros_aligned
from .hessian import ERR_CODE, hvp_flat, workspace_size
from .lanczos import ERR_TRIDIAG, lanczos_size, top_eigen_flat

EigenResult = vc.EigenResult


def _point(params, layout, X):
    """Padded copy of ``X``, row stride and a zeroed workspace for one network."""
    n = X.shape[1]
    ld = int(padded_ld(n, params))
    Xp = padded_rows(X.reshape(-1), layout.n_in, n, ld)
    table = writable(layout.table)
    ws = zeros_aligned(int(workspace_size(table, ld, layout.n_params)), params)
    return Xp, ld, table, ws


def _raise(err: int) -> None:
    if err == ERR_CODE:
        raise RuntimeError("the compiled core has no branch for this activation or loss code")
    if err == ERR_TRIDIAG:
        raise RuntimeError("the QL iteration on the Lanczos tridiagonal did not converge")
    if err != 0:
        raise RuntimeError(f"curvature kernel failed with error {err}")


def hvp(
    params: np.ndarray,
    layout,
    X: np.ndarray,
    y: np.ndarray,
    v: np.ndarray,
    activation: str = "relu",
    loss: str = "bce",
    *,
    alpha: float | None = None,
    residual: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Exact Hessian-vector product ``H v`` of the mean loss (Pearlmutter's R-operator).

    Parameters
    ----------
    params : ndarray, shape (layout.n_params,), float32 or float64
    layout : Layout
        One output unit (``n_out = 1``).
    X : ndarray, shape (layout.n_in, n), params' dtype
        Inputs, feature-major.
    y : ndarray, shape (n,), params' dtype
        Targets (``{0, 1}`` for bce).
    v : ndarray, shape (layout.n_params,), params' dtype
        The direction, packed like ``params``.
    activation, alpha, residual
        As in :func:`fastdepth.kernels.forward`. ReLU at ``z = 0`` counts as inactive
        (``act'(0) = 0``, ``act'' = 0``): see :mod:`fastdepth.kernels.second_derivatives`.
    loss : str
        ``"bce"`` (with logits) or ``"mse"``.
    out : ndarray, shape (layout.n_params,), optional
        Output buffer.

    Returns
    -------
    out : ndarray, shape (layout.n_params,)
        ``H v``, packed like ``params``.
    """
    layout, n, code, a, r, lc = vc.check_hvp(params, layout, X, y, activation, loss, alpha,
                                             residual)  # fmt: skip
    vc.check_vector("v", v, layout, params.dtype)
    if out is None:
        out = np.empty(layout.n_params, params.dtype)
    else:
        vc.check_vector("out", out, layout, params.dtype)
    Xp, ld, table, ws = _point(params, layout, X)
    work = np.empty(n)
    _, err = hvp_flat(writable(params), table, Xp, writable(y), n, ld, code, a, r, lc,
                      writable(v), out, ws, work)  # fmt: skip
    _raise(int(err))
    return out


def top_eigenvalues(
    params: np.ndarray,
    layout,
    X: np.ndarray,
    y: np.ndarray,
    activation: str = "relu",
    loss: str = "bce",
    *,
    alpha: float | None = None,
    residual: int = 0,
    k: int = 1,
    key: int = 0,
    max_iter: int = vc.MAX_ITER,
    tol: float = vc.TOL,
) -> EigenResult:
    """The ``k`` largest (algebraic) eigenvalues of the Hessian of the mean loss: Lanczos.

    Parameters
    ----------
    params, layout, X, y, activation, loss, alpha, residual
        As in :func:`hvp`.
    k : int
        How many, ``1 <= k <= 4``. Most positive first: a negative eigenvalue of a
        non-convex loss is never reported for its magnitude.
    key : int
        ``[0, 2**64)``: the start vector is a SplitMix64 draw of this key (pass the run's
        key), so the result is the same bits for any thread count, batch or process.
    max_iter : int
        Budget of Hessian-vector products (one per Lanczos step), ``>= k``; at most
        ``n_params`` are used (the Krylov space is then the whole space).
    tol : float
        Stop once every residual is ``<= tol * ||T||`` (``||T||``: the largest
        ``|Ritz value|``, the spectral norm estimate); 0 runs all ``max_iter`` steps.

    Returns
    -------
    EigenResult
        ``values`` (k,) float64, ``residuals`` (k,) float64 (``||H x - theta x||``),
        ``iterations`` and ``converged``.
    """
    layout, n, code, a, r, lc = vc.check_hvp(params, layout, X, y, activation, loss, alpha,
                                             residual)  # fmt: skip
    k, key, max_iter, tol = vc.check_eigen(layout, k, key, max_iter, tol)
    Xp, ld, table, ws = _point(params, layout, X)
    work = np.empty(n)
    lws = np.zeros(int(lanczos_size(layout.n_params, max_iter)))
    vals = np.empty(k)
    res = np.empty(k)
    it, conv, err = top_eigen_flat(writable(params), table, Xp, writable(y), n, ld, code, a, r,
                                   lc, np.uint64(key), k, max_iter, tol, ws, work, lws, vals, 0,
                                   res, 0, np.zeros(layout.n_params), 0, 0)  # fmt: skip
    _raise(int(err))
    return EigenResult(vals, res, int(it), bool(conv))
