"""A network as a function to analyse: packed parameters, layout, activation, residual blocks.

:class:`Network` is what the analysis functions take. It is built from packed parameters and
a :class:`~fastdepth.kernels.Layout`, from a :class:`~fastdepth.RunConfig` and its
parameters, from a :class:`~fastdepth.RunResult` or from a run in a store; :func:`as_network`
accepts any of the in-memory forms. Parameters are held in float64 (a float32 network's
parameters are exact in float64, so it is the same function, evaluated more accurately).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kernels
from ..config import Grid, RunConfig
from ..kernels import reference
from ..kernels.layout import Layout
from ..kernels.vocab import ACTIVATIONS
from ..result import RunResult

__all__ = ["BREAKPOINTS", "Network", "activation_cuts", "as_network"]

# Pre-activation values where each piecewise-linear activation's slope changes: the kinks
# the vocabulary records (read here, never restated).
BREAKPOINTS: dict[str, tuple[float, ...]] = {
    e.name: e.kinks for e in ACTIVATIONS.entries if e.piecewise_linear
}


def activation_cuts(activation: str, alpha: float | None = None) -> np.ndarray:
    """Breakpoints of a piecewise-linear activation at which its slope really changes.

    Parameters
    ----------
    activation : str
        A name in :data:`fastdepth.kernels.vocab.ACTIVATIONS` with ``piecewise_linear``.
    alpha : float, optional
        leaky_relu's negative slope (its default if ``None``); with ``alpha = 1`` it is the
        identity and has no breakpoint.

    Returns
    -------
    ndarray of float64, shape (m,)
        Sorted pre-activation values (``[0.]`` for relu, ``[]`` for identity).
    """
    ACTIVATIONS.entry(activation)  # unknown name: ValueError with a suggestion
    pwl = ACTIVATIONS.where(piecewise_linear=True)
    if activation not in pwl:
        raise ValueError(
            f"linear regions need a piecewise-linear activation ({', '.join(pwl)}); "
            f"{activation!r} is not piecewise linear, so its network has no linear regions"
        )
    cuts = np.array(BREAKPOINTS[activation], dtype=np.float64)
    if cuts.size == 0:
        return cuts
    # A cut with the same slope on both sides is no breakpoint (leaky_relu with alpha = 1).
    mids = np.concatenate([[cuts[0] - 1.0], 0.5 * (cuts[1:] + cuts[:-1]), [cuts[-1] + 1.0]])
    slopes = reference.activation_grad(mids, activation, alpha)
    return np.ascontiguousarray(cuts[slopes[1:] != slopes[:-1]])


@dataclass(frozen=True, eq=False)
class Network:
    """A fully connected network with fixed parameters.

    Parameters
    ----------
    params : array_like, shape (layout.n_params,)
        Packed parameters (:meth:`Layout.pack`); stored as read-only float64.
    layout : Layout
    activation : str
        Hidden activation (the output layer is linear).
    alpha : float, optional
        leaky_relu slope / elu scale (default: the activation's).
    residual : int
        0 for a plain network, else hidden layers per residual block, as
        :func:`fastdepth.kernels.forward` takes it (``RunConfig.rblock``); the skips follow
        :func:`fastdepth.kernels.layout.skip_source`.
    """

    params: np.ndarray
    layout: Layout
    activation: str = "relu"
    alpha: float | None = None
    residual: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.layout, Layout):
            raise TypeError(f"layout must be a fastdepth.kernels.Layout, got {self.layout!r}")
        p = np.array(self.params, dtype=np.float64)  # a copy: the network is immutable
        p.setflags(write=False)
        object.__setattr__(self, "params", p)
        object.__setattr__(self, "residual", int(self.residual))
        # The forward kernel's own checks (shape, finite, activation, alpha, residual).
        self.forward(np.zeros((self.layout.n_in, 1)))

    @classmethod
    def from_config(
        cls, config: RunConfig, params: np.ndarray | Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> Network:
        """The network of ``config`` with ``params`` (packed, or ``[(W, b), ...]``)."""
        layout = config.layout()
        flat = params if isinstance(params, np.ndarray) else layout.pack(params)
        return cls(flat, layout, config.activation, config.effective_alpha, config.rblock)

    @classmethod
    def from_run(cls, run: RunResult, which: str = "final") -> Network:
        """A trained run's network: ``which='final'`` or ``'initial'`` parameters."""
        if which not in ("final", "initial"):
            raise ValueError(f"which must be 'final' or 'initial', got {which!r}")
        params = run.final_params if which == "final" else run.initial_params
        return cls.from_config(run.config, params)

    @classmethod
    def from_store(cls, path: str | os.PathLike, run_id: str) -> Network:
        """The final network of run ``run_id`` in the store at ``path``.

        A store keeps final parameters only; its manifest's grid gives the config.
        """
        from .. import store

        runs = store.load(path, timing=False, columns=["run_index", "run_id"])
        row = runs[runs.run_id == run_id]
        if len(row) == 0:
            raise KeyError(f"run {run_id!r} is not in a finished chunk of {path}")
        config = Grid.from_dict(store.load_manifest(path)["grid"])[int(row.run_index.iloc[0])]
        if config.run_id != run_id:
            raise ValueError(f"store {path}: grid order does not match run {run_id!r}")
        return cls.from_config(config, store.load_params(path, run_id))

    @property
    def n_in(self) -> int:
        return self.layout.n_in

    @property
    def n_hidden_units(self) -> int:
        """Hidden units (the ones with an activation), ``sum(layout.widths)``."""
        return int(sum(self.layout.widths))

    def hidden_rows(self, k: int) -> slice:
        """Rows of hidden layer ``k`` in the ``Z`` / ``H`` buffers of :meth:`forward`."""
        start = int(sum(self.layout.widths[:k]))
        return slice(start, start + self.layout.widths[k])

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pre-activations and activations of every unit, :func:`fastdepth.kernels.forward`.

        Parameters
        ----------
        X : array_like, shape (n_in, n)
            Points, feature-major (cast to float64).

        Returns
        -------
        Z, H : ndarray of float64, shape (layout.n_units, n)
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        return kernels.forward(
            self.params, self.layout, X, self.activation, alpha=self.alpha,
            residual=self.residual,
        )  # fmt: skip

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """Gradient of every output with respect to the input at each point.

        Parameters
        ----------
        X : array_like, shape (n_in, n)

        Returns
        -------
        ndarray of float64, shape (n_out, n_in, n)
            From :func:`fastdepth.kernels.backward` (one call per output): ``W_0 dL/dz_0``.
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        Z, H = self.forward(X)
        lay = self.layout
        first = slice(0, lay.widths[0] if lay.depth else lay.n_out)
        W0 = lay.weight_view(self.params, 0)
        out = np.empty((lay.n_out, lay.n_in, X.shape[1]))
        for j in range(lay.n_out):
            dout = np.zeros((lay.n_out, X.shape[1]))
            dout[j] = 1.0
            _, D = kernels.backward(
                self.params, lay, X, Z, H, dout, self.activation, alpha=self.alpha,
                residual=self.residual,
            )  # fmt: skip
            out[j] = W0 @ D[first]
        return out


def as_network(net: Any, which: str = "final") -> Network:
    """``net`` as a :class:`Network`.

    Accepts a :class:`Network`, a :class:`~fastdepth.RunResult` (its ``which`` parameters:
    ``'final'`` or ``'initial'``) or a pair ``(RunConfig, params)``. For a run in a store
    use :meth:`Network.from_store`.
    """
    if isinstance(net, Network):
        return net
    if isinstance(net, RunResult):
        return Network.from_run(net, which)
    if isinstance(net, tuple) and len(net) == 2 and isinstance(net[0], RunConfig):
        return Network.from_config(*net)
    raise TypeError(
        f"expected a Network, a RunResult or (RunConfig, params), got {type(net).__name__}; "
        "for a store run use Network.from_store(path, run_id)"
    )
