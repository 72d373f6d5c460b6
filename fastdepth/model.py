"""A trained (or initial) network as a function: its outputs for given inputs.

The one place that packs parameters and runs a forward pass outside training; the
engine (for the ``collapsed`` metric), :meth:`RunResult.predict_logits` and the
figures all call it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import kernels
from .config import RunConfig
from .kernels import reference
from .kernels.vocab import units_of

BACKENDS = {"compiled": kernels, "reference": reference}
#: Samples per forward pass in :func:`network_outputs`.
OUTPUT_CHUNK = 4096


def backend(name: str):
    """The kernel module of a backend name: ``"compiled"`` or ``"reference"``."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be 'compiled' or 'reference', got {name!r}")
    return BACKENDS[name]


def network_outputs(
    run: RunConfig, params: np.ndarray, X: np.ndarray, backend_name: str = "compiled"
) -> np.ndarray:
    """Outputs (logits, or predictions for regression) of ``run``'s network.

    Parameters
    ----------
    run : RunConfig
    params : ndarray, shape (n_params,), the run's dtype
        Packed parameters (:meth:`Layout.pack`).
    X : ndarray, shape (n_in, n), same dtype
        Inputs, feature-major.
    backend_name : {"compiled", "reference"}

    Returns
    -------
    ndarray, shape (n,)
        The output row (a view into the forward pass's activations unless it ran in
        blocks).

    Notes
    -----
    With the compiled backend, larger ``n`` runs in blocks of :data:`OUTPUT_CHUNK` samples
    through the same two buffers. A sample's outputs do not depend on the other samples
    in its block (each column is its own sequence of operations), so the result has the
    same bits (the reference's BLAS products round differently for other widths, so it
    runs whole); the buffers are ``n_units x OUTPUT_CHUNK`` instead of ``n_units x n``:
    82 MB at width 256 and N = 20 000, which the engine's ``collapsed`` metric paid to
    allocate and fault in for every network.
    """
    fwd = backend(backend_name).forward
    lay = run.layout()
    kw = dict(alpha=run.effective_alpha, residual=run.rblock)
    n = X.shape[1]
    if n <= OUTPUT_CHUNK or backend_name != "compiled":
        return fwd(params, lay, X, run.activation, **kw)[1][-1]
    out = np.empty(n, X.dtype)
    Z = np.empty((lay.n_units, OUTPUT_CHUNK), X.dtype)
    H = np.empty_like(Z)
    for a in range(0, n, OUTPUT_CHUNK):
        b = min(n, a + OUTPUT_CHUNK)
        m = b - a
        if m < OUTPUT_CHUNK:  # the last block: buffers of its own width
            Z, H = np.empty((lay.n_units, m), X.dtype), np.empty((lay.n_units, m), X.dtype)
        fwd(params, lay, np.ascontiguousarray(X[:, a:b]), run.activation, Z=Z, H=H, **kw)
        out[a:b] = H[-1]
    return out


def predict(
    run: RunConfig,
    params: np.ndarray | Sequence[tuple[np.ndarray, np.ndarray]],
    X: np.ndarray,
) -> np.ndarray:
    """Outputs of ``run``'s network with ``params`` at the points ``X``.

    Parameters
    ----------
    run : RunConfig
    params : ndarray (n_params,) or list of (W, b)
        Packed, or per layer as :meth:`Layout.unpack` gives them; their dtype is used.
    X : array_like, shape (n, n_in)
        Points, one per row (cast to the parameters' dtype).

    Returns
    -------
    ndarray, shape (n,)
        Logits (classification) or predictions (regression), a fresh array.
    """
    if isinstance(params, np.ndarray):
        flat = params
    else:
        flat = run.layout().pack(params, dtype=np.asarray(params[0][0]).dtype)
    XT = np.ascontiguousarray(np.asarray(X, dtype=flat.dtype).T)
    return network_outputs(run, flat, XT).copy()


def unit_fractions(run: RunConfig, params: np.ndarray, X: np.ndarray) -> np.ndarray | None:
    """Per hidden layer, the share of units in the unit state of ``run``'s activation.

    Dead units for the ReLU family (:func:`fastdepth.kernels.dead_fractions`), saturated
    units for tanh and sigmoid (:func:`fastdepth.kernels.saturated_fractions`), on the
    inputs ``X``; None for an activation with neither (``vocab.Activation.units``).

    Parameters
    ----------
    run : RunConfig
    params : ndarray, shape (n_params,)
        Packed parameters (their dtype is used).
    X : array_like, shape (n, n_in)
        Points, one per row.

    Returns
    -------
    ndarray, float64, shape (depth,), or None
    """
    units = units_of(run.activation)
    if units == "none":
        return None
    XT = np.ascontiguousarray(np.asarray(X, dtype=params.dtype).T)
    layout = run.layout()
    Z, H = kernels.forward(params, layout, XT, run.activation, alpha=run.effective_alpha,
                           residual=run.rblock)  # fmt: skip
    if units == "dead":
        return kernels.dead_fractions(Z, layout)[0]
    return kernels.saturated_fractions(H, layout, run.activation)[0]
