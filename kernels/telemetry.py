"""Where each telemetry series of a network sits in the flat telemetry vector.

The batched trainer writes one network's telemetry as three blocks (four with weight
snapshots, five with sharpness), one after the other from the network's offset
``tel_off[k]`` (float64 whatever the run's dtype):

``log``  (n_log, 2 + L)
    every ``log_every`` steps: ``loss, grad_norm, grad_norm_<k>`` (weights of layer
    ``k``, output layer last); the loss and gradient of the step's batch.
``eval`` (n_eval, 4 + 2 h)
    every ``eval_every`` steps and after the last one: ``train_loss, train_acc,
    test_loss, test_acc, dead_<k>, act_sq_<k>`` (hidden layers), on the whole splits.
``init`` (2 L + 2 h + 1,)
    at initialisation: ``grad_norm[L], signal_norm[L], act_sq[h], dead[h], born_dead``.
``snapshots`` (n_snap, P), only with ``snapshot_every > 0``
    every ``snapshot_every`` steps and after the last one: the network's ``P`` packed
    parameters (the weights the step starts from; the last row the final weights).
``sharpness`` (n_sharp, 2 k + 1), only with ``sharpness_every > 0`` or ``lr_rule =
sharpness``
    every ``sharpness_every`` steps and after the last one (only step 0 when it is 0 and
    the rate rule needs ``lambda_0``): the ``k`` largest eigenvalues of the Hessian of the
    mean loss on the *whole training set* at the weights the step starts from (most
    positive first: ``sharpness, eig_2, ...``), their Lanczos residuals and the number of
    Hessian-vector products used (:mod:`lanczos`).

for ``L`` weight layers and ``h = L - 1`` hidden layers, with
``n_log = (steps - 1) // log_every + 1``, ``n_eval = (steps - 1) // eval_every + 2``,
``n_snap = (steps - 1) // snapshot_every + 2`` and ``n_sharp = (steps - 1) //
sharpness_every + 2`` (0 when off, so the other blocks keep their offsets and bytes).
Memory per network: ``n_log (2 + L) + n_eval (4 + 2 h) + 2 L + 2 h + 1 + n_snap P +
n_sharp (2 k + 1)`` floats; it depends on the cadences, never on how the steps are
computed.

The ``dead_<k>`` slots of an eval row and ``dead``, ``born_dead`` of the init block hold
the unit state the activation is measured by (``vocab.Activation.units``): dead units
for the ReLU family, *saturated* units for tanh and sigmoid (``vocab.SATURATION``), NaN
for activations with neither; the names below follow it (``units=``).

This module is the one owner of that layout. The plain functions below are the
arithmetic; the compiled trainer calls their ``*_c`` twins (the same functions
compiled inline), its NumPy twin, the engine and the metrics use
:class:`TelemetryLayout`. A new series is a new column name or block here plus the
kernel that fills it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._jit import njit

LOG_COLUMNS = ("loss", "grad_norm")  # then grad_norm_<k> for every layer
EVAL_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc")  # then dead_<k>, act_sq_<k>
INIT_FIELDS = ("grad_norm", "signal_norm", "act_sq", "dead", "born_dead")

# Positions inside a log row and an eval row.
LOG_LOSS, LOG_GRAD_NORM, LOG_LAYERS = 0, 1, 2
EVAL_TRAIN_LOSS, EVAL_TRAIN_ACC, EVAL_TEST_LOSS, EVAL_TEST_ACC, EVAL_DEAD = 0, 1, 2, 3, 4


def n_log_points(n_steps, log_every):
    """Number of logged steps: ``0, log_every, ... < n_steps``."""
    return (n_steps - 1) // log_every + 1


def n_eval_points(n_steps, eval_every):
    """Number of evaluations: ``0, eval_every, ... < n_steps`` and ``n_steps``."""
    return (n_steps - 1) // eval_every + 2


def log_width(n_layers):
    """Values per log row: loss, total gradient norm, one norm per layer."""
    return LOG_LAYERS + n_layers


def eval_act_sq(n_layers):
    """Position of ``act_sq_0`` in an eval row (after the ``dead_<k>`` columns)."""
    return EVAL_DEAD + (n_layers - 1)


def eval_width(n_layers):
    """Values per eval row: four losses/accuracies, dead and act_sq per hidden layer."""
    return EVAL_DEAD + 2 * (n_layers - 1)


def init_offsets(n_layers):
    """Positions in the init block: ``(grad_norm, signal_norm, act_sq, dead, born_dead, size)``."""
    nh = n_layers - 1
    return (
        0,
        n_layers,
        2 * n_layers,
        2 * n_layers + nh,
        2 * n_layers + 2 * nh,
        2 * n_layers + 2 * nh + 1,
    )


def n_snapshot_points(n_steps, snapshot_every):
    """Number of weight snapshots: ``0, K, 2K, ... < n_steps`` and ``n_steps``; 0 if K = 0."""
    if snapshot_every <= 0:
        return 0
    return (n_steps - 1) // snapshot_every + 2


def n_sharpness_points(n_steps, sharpness_every, lambda0):
    """Number of sharpness measurements: ``0, K, 2K, ... < n_steps`` and ``n_steps`` for
    ``K = sharpness_every > 0``; else 1 (step 0) if ``lambda0`` (the rate rule needs
    ``lambda_0``), else 0."""
    if sharpness_every > 0:
        return (n_steps - 1) // sharpness_every + 2
    return 1 if lambda0 else 0


def sharpness_width(k):
    """Values per sharpness row: ``k`` eigenvalues, ``k`` residuals, the iterations used."""
    return 2 * k + 1


def block_offsets(n_layers, n_steps, log_every, eval_every):
    """Offsets of the fixed blocks from the network's start: ``(log, eval, init, end)``.

    ``end`` is where the init block ends: the whole telemetry without snapshots, and the
    offset of the snapshot block (:func:`telemetry_size`)."""
    o_eval = n_log_points(n_steps, log_every) * log_width(n_layers)
    o_init = o_eval + n_eval_points(n_steps, eval_every) * eval_width(n_layers)
    return 0, o_eval, o_init, o_init + init_offsets(n_layers)[5]


def log_columns(n_layers: int) -> tuple[str, ...]:
    """Names of a log row's values."""
    return (*LOG_COLUMNS, *(f"grad_norm_{k}" for k in range(n_layers)))


def eval_columns(n_layers: int, units: str = "dead") -> tuple[str, ...]:
    """Names of an eval row's values; the unit-state slots are ``<units>_<k>``
    (``dead_<k>``, ``saturated_<k>``, or ``none_<k>`` for an activation without one)."""
    nh = n_layers - 1
    return (*EVAL_COLUMNS, *(f"{units}_{k}" for k in range(nh)),
            *(f"act_sq_{k}" for k in range(nh)))  # fmt: skip


# The same arithmetic for the compiled trainer, inlined where it is called.
n_log_points_c = njit(inline="always")(n_log_points)
n_eval_points_c = njit(inline="always")(n_eval_points)
log_width_c = njit(inline="always")(log_width)
eval_act_sq_c = njit(inline="always")(eval_act_sq)
eval_width_c = njit(inline="always")(eval_width)
init_offsets_c = njit(inline="always")(init_offsets)


@njit(inline="always")
def block_offsets_c(n_layers, n_steps, log_every, eval_every):
    """Compiled twin of :func:`block_offsets` (it calls the compiled helpers)."""
    o_eval = n_log_points_c(n_steps, log_every) * log_width_c(n_layers)
    o_init = o_eval + n_eval_points_c(n_steps, eval_every) * eval_width_c(n_layers)
    return 0, o_eval, o_init, o_init + init_offsets_c(n_layers)[5]


n_snapshot_points_c = njit(inline="always")(n_snapshot_points)
n_sharpness_points_c = njit(inline="always")(n_sharpness_points)
sharpness_width_c = njit(inline="always")(sharpness_width)

#: Names of a sharpness row's values for ``k = 4`` (a run with smaller ``k`` has the first
#: ``k`` of each group: see :func:`sharpness_columns`).
SHARPNESS_COLUMNS = ("sharpness", "eig_2", "eig_3", "eig_4", "sharpness_residual",
                     "eig_2_residual", "eig_3_residual", "eig_4_residual",
                     "lanczos_iterations")  # fmt: skip
MAX_SHARPNESS_K = 4


def sharpness_columns(k: int) -> tuple[str, ...]:
    """Names of a sharpness row's values: ``k`` eigenvalues, their residuals, iterations."""
    return (*SHARPNESS_COLUMNS[:k], *SHARPNESS_COLUMNS[4 : 4 + k], SHARPNESS_COLUMNS[-1])


class Telemetry(NamedTuple):
    """Views of one network's three telemetry blocks (see the module docstring)."""

    log: np.ndarray
    eval: np.ndarray
    init: np.ndarray


@dataclass(frozen=True)
class TelemetryLayout:
    """The telemetry layout of one network: block shapes, offsets, column names.

    Parameters
    ----------
    n_layers : int
        Weight layers (hidden layers + the output layer), >= 2.
    n_steps, log_every, eval_every : int
        Optimisation steps and the two cadences, >= 1.
    n_params : int
        Packed parameters of the network (the width of a snapshot row).
    snapshot_every : int
        Steps between weight snapshots; 0 = no snapshot block.
    units : str
        The unit state of the run's activation (``vocab.Activation.units``): names the
        ``<units>_<k>`` eval columns and the init fields.
    sharpness_every, sharpness_k : int
        Steps between sharpness measurements (0 = none) and eigenvalues per measurement.
    lambda0 : bool
        The rate rule needs ``lambda_0``: a sharpness block of one row (step 0) even when
        ``sharpness_every`` is 0.
    """

    n_layers: int
    n_steps: int
    log_every: int
    eval_every: int
    n_params: int = 0
    snapshot_every: int = 0
    units: str = "dead"
    sharpness_every: int = 0
    sharpness_k: int = 1
    lambda0: bool = False

    @property
    def n_hidden(self) -> int:
        return self.n_layers - 1

    @property
    def n_log(self) -> int:
        return n_log_points(self.n_steps, self.log_every)

    @property
    def n_eval(self) -> int:
        return n_eval_points(self.n_steps, self.eval_every)

    @property
    def log_shape(self) -> tuple[int, int]:
        return (self.n_log, log_width(self.n_layers))

    @property
    def eval_shape(self) -> tuple[int, int]:
        return (self.n_eval, eval_width(self.n_layers))

    @property
    def offsets(self) -> tuple[int, int, int, int]:
        """``(log, eval, init, end of init)`` from the network's offset (see
        :func:`block_offsets`; the snapshot block starts at the last)."""
        return block_offsets(self.n_layers, self.n_steps, self.log_every, self.eval_every)

    @property
    def n_snapshots(self) -> int:
        return n_snapshot_points(self.n_steps, self.snapshot_every)

    @property
    def snapshot_shape(self) -> tuple[int, int]:
        return (self.n_snapshots, self.n_params)

    @property
    def n_sharpness(self) -> int:
        return n_sharpness_points(self.n_steps, self.sharpness_every, self.lambda0)

    @property
    def sharpness_shape(self) -> tuple[int, int]:
        return (self.n_sharpness, sharpness_width(self.sharpness_k))

    @property
    def sharpness_offset(self) -> int:
        """Start of the sharpness block (after the snapshots) from the network's offset."""
        return self.offsets[3] + self.n_snapshots * self.n_params

    @property
    def size(self) -> int:
        """Floats of telemetry this network needs."""
        return self.sharpness_offset + self.n_sharpness * sharpness_width(self.sharpness_k)

    @property
    def sharpness_columns(self) -> tuple[str, ...]:
        return sharpness_columns(self.sharpness_k)

    @property
    def log_columns(self) -> tuple[str, ...]:
        return log_columns(self.n_layers)

    @property
    def eval_columns(self) -> tuple[str, ...]:
        return eval_columns(self.n_layers, self.units)

    def log_steps(self) -> np.ndarray:
        """The step of every log row, int64 ``(n_log,)``."""
        return np.arange(self.n_log, dtype=np.int64) * self.log_every

    def eval_steps(self) -> np.ndarray:
        """The step of every eval row, int64 ``(n_eval,)``; the last is ``n_steps``."""
        steps = np.minimum(np.arange(self.n_eval, dtype=np.int64) * self.eval_every, self.n_steps)
        steps[-1] = self.n_steps
        return steps

    def snapshot_steps(self) -> np.ndarray:
        """The step of every snapshot row, int64 ``(n_snapshots,)``; the last is ``n_steps``."""
        n = self.n_snapshots
        if n == 0:
            return np.zeros(0, np.int64)
        steps = np.minimum(np.arange(n, dtype=np.int64) * self.snapshot_every, self.n_steps)
        steps[-1] = self.n_steps
        return steps

    def sharpness_steps(self) -> np.ndarray:
        """The step of every sharpness row, int64 ``(n_sharpness,)``; with
        ``sharpness_every > 0`` the last is ``n_steps``."""
        n = self.n_sharpness
        if self.sharpness_every <= 0:
            return np.zeros(n, np.int64)
        steps = np.minimum(np.arange(n, dtype=np.int64) * self.sharpness_every, self.n_steps)
        steps[-1] = self.n_steps
        return steps

    def sharpness(self, tel: np.ndarray, off: int = 0) -> np.ndarray:
        """View of the sharpness block, ``(n_sharpness, 2 k + 1)`` (``(0, 2 k + 1)`` when off)."""
        start = off + self.sharpness_offset
        size = self.n_sharpness * sharpness_width(self.sharpness_k)
        return tel[start : start + size].reshape(self.sharpness_shape)

    def snapshots(self, tel: np.ndarray, off: int = 0) -> np.ndarray:
        """View of the snapshot block, ``(n_snapshots, n_params)`` (``(0, n_params)`` when off)."""
        start = off + self.offsets[3]
        return tel[start : start + self.n_snapshots * self.n_params].reshape(self.snapshot_shape)

    def split(self, tel: np.ndarray, off: int = 0) -> Telemetry:
        """Views of the blocks of the network whose telemetry starts at ``tel[off]``."""
        _, o_eval, o_init, size = (off + o for o in self.offsets)
        return Telemetry(
            log=tel[off:o_eval].reshape(self.log_shape),
            eval=tel[o_eval:o_init].reshape(self.eval_shape),
            init=tel[o_init:size],
        )

    def init_fields(self, init: np.ndarray) -> dict:
        """The init block as ``{grad_norm, signal_norm (L,), act_sq, dead (h,), born_dead}``
        (copies; ``born_dead`` a bool). For saturating activations the last two are
        ``saturated`` and ``born_saturated``; without a unit measure they are left out."""
        g, s, a, d, b, _ = init_offsets(self.n_layers)
        out = {
            "grad_norm": init[g:s].copy(),
            "signal_norm": init[s:a].copy(),
            "act_sq": init[a:d].copy(),
        }
        if self.units != "none":
            out[self.units] = init[d:b].copy()
            out[f"born_{self.units}"] = bool(init[b] > 0.5)
        return out


def telemetry_layout(
    n_layers: int,
    n_steps: int,
    log_every: int,
    eval_every: int,
    n_params: int = 0,
    snapshot_every: int = 0,
    sharpness_every: int = 0,
    sharpness_k: int = 1,
    lambda0: bool = False,
) -> dict:
    """Offsets and shapes of one network's telemetry blocks, as a dict.

    Returns
    -------
    dict
        ``{"log": (offset, (n_log, 2 + n_layers)), "eval": (offset, (n_eval, 4 + 2 h)),
        "init": (offset, (2 n_layers + 2 h + 1,)), "snapshots": (offset, (n_snap,
        n_params)), "sharpness": (offset, (n_sharp, 2 k + 1)), "size": total}`` (see
        :class:`TelemetryLayout`, which the package itself uses).
    """
    lay = TelemetryLayout(n_layers, n_steps, log_every, eval_every, n_params, snapshot_every,
                          sharpness_every=sharpness_every, sharpness_k=sharpness_k,
                          lambda0=bool(lambda0))  # fmt: skip
    _, o_eval, o_init, end = lay.offsets
    return {
        "log": (0, lay.log_shape),
        "eval": (o_eval, lay.eval_shape),
        "init": (o_init, (end - o_init,)),
        "snapshots": (end, lay.snapshot_shape),
        "sharpness": (lay.sharpness_offset, lay.sharpness_shape),
        "size": lay.size,
    }


def telemetry_size(
    n_layers: int,
    n_steps: int,
    log_every: int,
    eval_every: int,
    n_params: int = 0,
    snapshot_every: int = 0,
    sharpness_every: int = 0,
    sharpness_k: int = 1,
    lambda0: bool = False,
) -> int:
    """Floats of telemetry one network needs (see :class:`TelemetryLayout`)."""
    fixed = block_offsets(n_layers, n_steps, log_every, eval_every)[3]
    sharp = n_sharpness_points(n_steps, sharpness_every, lambda0) * sharpness_width(sharpness_k)
    return fixed + n_snapshot_points(n_steps, snapshot_every) * n_params + sharp
