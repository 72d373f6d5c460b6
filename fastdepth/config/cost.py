"""What runs cost before they run: telemetry and parameter memory, FLOPs, the memory check."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from fastdepth.kernels.layout import FAN_IN, FAN_OUT
from fastdepth.kernels.telemetry import telemetry_size
from fastdepth.kernels.vocab import OPTIMIZERS

from .errors import ConfigError

if TYPE_CHECKING:
    from .run import RunConfig

__all__ = ["available_memory", "check_memory", "flops", "memory_bytes"]


def memory_bytes(c: RunConfig) -> int:
    """Bytes of one run's telemetry and parameter state (see :meth:`Grid.memory_bytes`)."""
    lay = c.layout()
    # Telemetry is float64 whatever the run's dtype; its size is the kernels' own.
    telemetry = telemetry_size(lay.n_layers, c.n_steps, c.log_every, c.eval_every)
    # initial, current, gradient, and the optimizer's state vectors
    state = lay.n_params * (3 + OPTIMIZERS.entry(c.optimizer).state)
    return telemetry * 8 + state * c.np_dtype.itemsize


def flops(c: RunConfig, include_eval: bool = True) -> int:
    """Estimated FLOPs of one run (see :meth:`Grid.estimated_flops`)."""
    lay = c.layout()
    # every epoch touches each training sample once, whatever the batch size
    total = lay.flops_per_sample * c.n_train * c.epochs
    if include_eval:
        s = int(np.sum(lay.table[:, FAN_IN] * lay.table[:, FAN_OUT]))
        total += c.n_eval_points * 2 * s * (c.n_train + c.n_test)
    return int(total)


def available_memory() -> int | None:
    """Bytes of RAM available now (``os.sysconf``), or None where that cannot be read."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _few(values: list) -> str:
    return str(values[0]) if len(values) == 1 else "/".join(map(str, values[:5]))


def check_memory(
    runs: Sequence[RunConfig], limit_bytes: int | None = None, what: str | None = None
) -> int:
    """Raise :class:`ConfigError` if ``runs`` need more telemetry memory than the limit.

    Parameters
    ----------
    runs : sequence of RunConfig
    limit_bytes : int, optional
        Default: half of the available RAM (``os.sysconf``); if that cannot be read,
        no check is made.
    what : str, optional
        How to name the runs in the message.

    Returns
    -------
    int
        Bytes needed.
    """
    need = sum(r.memory_bytes() for r in runs)
    source = "limit_bytes"
    if limit_bytes is None:
        avail = available_memory()
        if avail is None:
            return need
        limit_bytes, source = avail // 2, "half of the available RAM"
    if need > limit_bytes:
        gib = 2.0**30
        logs = sorted({r.log_every for r in runs})
        evals = sorted({r.eval_every for r in runs})
        seeds = len({r.seed for r in runs})
        what = what or f"these {len(runs)} runs"
        raise ConfigError(
            f"{what} needs {need / gib:.3g} GiB of telemetry and "
            f"parameter memory but the limit is {limit_bytes / gib:.3g} GiB ({source}); "
            f"raise log_every (now {_few(logs)}) or eval_every (now {_few(evals)}), use "
            f"fewer seeds (now {seeds}), or split the grid into smaller grids"
        )
    return need
