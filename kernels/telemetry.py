"""Where each telemetry series of a network sits in the flat telemetry vector.

The batched trainer writes one network's telemetry as three blocks, one after the
other from the network's offset ``tel_off[k]`` (float64 whatever the run's dtype):

``log``  (n_log, 2 + L)
    every ``log_every`` steps: ``loss, grad_norm, grad_norm_<k>`` (weights of layer
    ``k``, output layer last); the loss and gradient of the step's batch.
``eval`` (n_eval, 4 + 2 h)
    every ``eval_every`` steps and after the last one: ``train_loss, train_acc,
    test_loss, test_acc, dead_<k>, act_sq_<k>`` (hidden layers), on the whole splits.
``init`` (2 L + 2 h + 1,)
    at initialisation: ``grad_norm[L], signal_norm[L], act_sq[h], dead[h], born_dead``.

for ``L`` weight layers and ``h = L - 1`` hidden layers, with
``n_log = (steps - 1) // log_every + 1`` and ``n_eval = (steps - 1) // eval_every + 2``.
Memory per network: ``n_log (2 + L) + n_eval (4 + 2 h) + 2 L + 2 h + 1`` floats; it
depends on the cadences, never on how the steps are computed.

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


def block_offsets(n_layers, n_steps, log_every, eval_every):
    """Offsets of the blocks from the network's start: ``(log, eval, init, size)``."""
    o_eval = n_log_points(n_steps, log_every) * log_width(n_layers)
    o_init = o_eval + n_eval_points(n_steps, eval_every) * eval_width(n_layers)
    return 0, o_eval, o_init, o_init + init_offsets(n_layers)[5]


def log_columns(n_layers: int) -> tuple[str, ...]:
    """Names of a log row's values."""
    return (*LOG_COLUMNS, *(f"grad_norm_{k}" for k in range(n_layers)))


def eval_columns(n_layers: int) -> tuple[str, ...]:
    """Names of an eval row's values."""
    nh = n_layers - 1
    return (*EVAL_COLUMNS, *(f"dead_{k}" for k in range(nh)), *(f"act_sq_{k}" for k in range(nh)))


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
    """

    n_layers: int
    n_steps: int
    log_every: int
    eval_every: int

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
        """``(log, eval, init, size)`` from the network's offset."""
        return block_offsets(self.n_layers, self.n_steps, self.log_every, self.eval_every)

    @property
    def size(self) -> int:
        """Floats of telemetry this network needs."""
        return self.offsets[3]

    @property
    def log_columns(self) -> tuple[str, ...]:
        return log_columns(self.n_layers)

    @property
    def eval_columns(self) -> tuple[str, ...]:
        return eval_columns(self.n_layers)

    def log_steps(self) -> np.ndarray:
        """The step of every log row, int64 ``(n_log,)``."""
        return np.arange(self.n_log, dtype=np.int64) * self.log_every

    def eval_steps(self) -> np.ndarray:
        """The step of every eval row, int64 ``(n_eval,)``; the last is ``n_steps``."""
        steps = np.minimum(np.arange(self.n_eval, dtype=np.int64) * self.eval_every, self.n_steps)
        steps[-1] = self.n_steps
        return steps

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
        (copies; ``born_dead`` a bool)."""
        g, s, a, d, b, _ = init_offsets(self.n_layers)
        return {
            "grad_norm": init[g:s].copy(),
            "signal_norm": init[s:a].copy(),
            "act_sq": init[a:d].copy(),
            "dead": init[d:b].copy(),
            "born_dead": bool(init[b] > 0.5),
        }


def telemetry_layout(n_layers: int, n_steps: int, log_every: int, eval_every: int) -> dict:
    """Offsets and shapes of one network's telemetry blocks, as a dict.

    Returns
    -------
    dict
        ``{"log": (offset, (n_log, 2 + n_layers)), "eval": (offset, (n_eval, 4 + 2 h)),
        "init": (offset, (2 n_layers + 2 h + 1,)), "size": total}`` (see
        :class:`TelemetryLayout`, which the package itself uses).
    """
    lay = TelemetryLayout(n_layers, n_steps, log_every, eval_every)
    _, o_eval, o_init, size = lay.offsets
    return {
        "log": (0, lay.log_shape),
        "eval": (o_eval, lay.eval_shape),
        "init": (o_init, (size - o_init,)),
        "size": size,
    }


def telemetry_size(n_layers: int, n_steps: int, log_every: int, eval_every: int) -> int:
    """Floats of telemetry one network needs (see :class:`TelemetryLayout`)."""
    return block_offsets(n_layers, n_steps, log_every, eval_every)[3]
