"""What one trained network leaves behind: :class:`RunResult`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import RunConfig
from .model import predict


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
        ``train_loss, train_acc, test_loss, test_acc, dead_<k>, act_sq_<k>``
        (hidden layers). The step ``n_steps`` row is the evaluation after training.
    summary : dict
        Scalars (see :func:`fastdepth.metrics.summarize`).
    init : dict
        Diagnostics at initialisation: ``grad_norm`` and ``signal_norm`` (n_layers,),
        ``act_sq`` and ``dead`` (depth,), ``born_dead`` (bool).
    initial_params, final_params : list of (W, b)
        ``W`` shaped (fan_in, fan_out), ``b`` (fan_out,), in the run's dtype.
    wall_time : float
        Seconds of the batch attributed to this run in proportion to its FLOPs.
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

    @property
    def diverged(self) -> bool:
        """True when training stopped on a non-finite loss or gradient."""
        return self.status == "diverged"

    def predict_logits(self, X: np.ndarray) -> np.ndarray:
        """Outputs of the trained network for inputs ``X`` (n, n_in): float array (n,)."""
        return predict(self.config, self.final_params, X)
