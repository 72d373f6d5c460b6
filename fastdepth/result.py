"""What one trained network leaves behind: :class:`RunResult`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import RunConfig
from .model import predict


@dataclass(frozen=True)
class Snapshots:
    """The weights of one run at several steps of its training.

    Attributes
    ----------
    steps : ndarray, int64, shape (n,)
        The step of each snapshot: the weights after that many updates (0 = initial,
        ``n_steps`` = final). Steps a diverged run never reached are absent.
    params : ndarray, shape (n, n_params), the run's dtype
        Packed parameters (:meth:`fastdepth.kernels.Layout.unpack` gives ``(W, b)`` per
        layer), one row per step.
    """

    steps: np.ndarray
    params: np.ndarray

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def weights(self, config: RunConfig, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Snapshot ``i`` as ``[(W, b), ...]`` per layer (views), for ``config``'s layout."""
        return config.layout().unpack(self.params[i])


@dataclass
class RunResult:
    """One network trained once.

    Attributes
    ----------
    config : RunConfig
    run_id : str
    status : str
        ``"ok"`` or ``"diverged"`` (a non-finite loss or gradient stopped the run).
    curves : pandas.DataFrame
        One row per logged or evaluated step: ``step``, ``loss``, ``grad_norm``,
        ``grad_norm_<k>`` (every layer, output last), and on evaluation steps
        ``train_loss, train_acc, test_loss, test_acc``, then per hidden layer the unit
        state of the activation, ``dead_<k>`` (ReLU family) or ``saturated_<k>`` (tanh,
        sigmoid; none for other activations), and ``act_sq_<k>``. The step ``n_steps``
        row is the evaluation after training. :meth:`to_frame` gives the long format of
        :func:`fastdepth.load_curves`.
    summary : dict
        Scalars (see :func:`fastdepth.metrics.summarize`).
    init : dict
        Diagnostics at initialisation: ``grad_norm`` and ``signal_norm`` (n_layers,),
        ``act_sq`` (depth,), and ``dead`` (depth,) with ``born_dead`` (bool) for the ReLU
        family, or ``saturated`` with ``born_saturated`` for tanh and sigmoid.
    initial_params, final_params : list of (W, b)
        ``W`` shaped (fan_in, fan_out), ``b`` (fan_out,), in the run's dtype.
    wall_time : float
        Seconds of the batch attributed to this run in proportion to its FLOPs.
    snapshots : Snapshots or None
        The weights every ``config.snapshot_every`` steps (None when that is 0).
    """

    config: RunConfig
    run_id: str
    status: str
    curves: pd.DataFrame
    summary: dict
    init: dict
    initial_params: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)
    final_params: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)
    wall_time: float = 0.0
    snapshots: Snapshots | None = field(default=None, repr=False)

    @property
    def diverged(self) -> bool:
        """True when training stopped on a non-finite loss or gradient."""
        return self.status == "diverged"

    def to_frame(self, attach: Sequence[str] = (), layers: bool = False) -> pd.DataFrame:
        """This run's curves in the long format of :func:`fastdepth.load_curves`.

        The same columns, dtypes and rows ``load_curves(store, run_id=self.run_id,
        attach=attach)`` gives for a store holding this run (``layers=True``: those of
        :func:`fastdepth.load_layers`). :func:`fastdepth.frame` does it for many runs.
        """
        from .store import frame

        return frame([self], attach=list(attach), layers=layers)

    def predict_logits(self, X: np.ndarray) -> np.ndarray:
        """Outputs of the trained network for inputs ``X`` (n, n_in): float array (n,)."""
        return predict(self.config, self.final_params, X)
