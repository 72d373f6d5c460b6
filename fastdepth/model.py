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
        A view into the forward pass's activations.
    """
    _, H = backend(backend_name).forward(
        params, run.layout(), X, run.activation, alpha=run.effective_alpha, residual=run.rblock
    )
    return H[-1]


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
