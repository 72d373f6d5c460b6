"""Input checks of the curvature kernels (:mod:`curvature`) and their reference twins,
the solver's defaults and its result type."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _validate as v
from .vocab import LOSSES

# Lanczos defaults: 20 Hessian-vector products at most, stop early once every wanted
# Ritz pair has ||H x - theta x|| <= 1e-4 ||H|| (so each value is within 1e-4 ||H|| of
# an eigenvalue of H, in practice far closer: the error is ~ residual^2 / gap).
MAX_ITER = 20
TOL = 1e-4
MAX_K = 4


class EigenResult(NamedTuple):
    """What :func:`fastdepth.kernels.top_eigenvalues` returns.

    Attributes
    ----------
    values : ndarray, shape (k,), float64
        The ``k`` largest algebraic eigenvalues found, most positive first.
    residuals : ndarray, shape (k,), float64
        ``||H x_i - values[i] x_i||`` of each Ritz pair (``x_i`` of unit norm): there is
        an eigenvalue of the Hessian within ``residuals[i]`` of ``values[i]``.
    iterations : int
        Hessian-vector products used.
    converged : bool
        Whether every residual met ``tol * ||T||`` before ``max_iter`` ran out.
    """

    values: np.ndarray
    residuals: np.ndarray
    iterations: int
    converged: bool


def check_hvp(params, layout, X, y, activation, loss, alpha, residual):
    """Validate the point of a Hessian; return ``(layout, n, act, alpha, r, loss_code)``."""
    layout = v.layout_arg(layout)
    n = v.samples(layout, X, params)
    code, a = v.activation_code(activation, alpha)
    r = v.residual_arg(layout, residual)
    v.choice("loss", loss, LOSSES)
    if layout.n_out != 1:
        raise ValueError(
            f"the Hessian kernels take one output unit (the losses are on one logit), "
            f"got n_out={layout.n_out}"
        )
    v.float_array("y", y, 1, dtype=params.dtype, shape=(n,), finite=True)
    return layout, n, code, a, r, LOSSES[loss]


def check_vector(name, a, layout, dtype):
    """A direction (finite) or an output buffer packed like the parameters: (n_params,),
    the params' dtype."""
    return v.float_array(name, a, 1, dtype=dtype, shape=(layout.n_params,), finite=name != "out")


def check_eigen(layout, k, key, max_iter, tol) -> tuple[int, int, int, float]:
    """Validate the solver settings; return ``(k, key, max_iter, tol)`` as plain numbers."""
    for name, val in (("k", k), ("max_iter", max_iter), ("key", key)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {val!r}")
    if not 1 <= int(k) <= min(MAX_K, layout.n_params):
        raise ValueError(
            f"k must be in [1, {min(MAX_K, layout.n_params)}] (the top k <= {MAX_K} "
            f"eigenvalues), got {k}"
        )
    if int(max_iter) < int(k):
        raise ValueError(f"max_iter must be >= k={k} Hessian-vector products, got {max_iter}")
    if not 0 <= int(key) < 2**64:
        raise ValueError(f"key must be in [0, 2**64), got {key}")
    t = float(tol)
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"tol must be a finite number >= 0 (0: run all max_iter), got {tol}")
    return int(k), int(key), int(max_iter), t
