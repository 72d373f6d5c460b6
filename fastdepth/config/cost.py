"""What runs cost before they run: telemetry and parameter memory, FLOPs, time, the memory check.

Time is priced in FLOP-equivalents of the compiled trainer (:func:`train_cost`): the FLOPs
of the affine maps, a fixed cost per layer and sample-step (:data:`LAYER_STEP_COST`: loops,
loss, norms, telemetry) and a cost per hidden unit and sample-step that depends on the
activation (:attr:`fastdepth.kernels.vocab.Activation.cost`: a ReLU is a compare, a tanh
some forty operations forward, an exact GELU a vectorised ``erf`` and ``exp``). The constants are
fitted on measured chunk times by ``python -m bench.eta_fit`` on the reference machine
(2-core AMD EPYC, AVX-512). FLOPs alone price a tanh run like a ReLU run of the same
shape, where it takes 1.7x as long (W1, README; 2.3-2.5x when the model was introduced), which
made the old flat 40 GFLOP/s estimate right for one activation and wrong by that factor
for the other (issue #19).

A run with ``count_regions`` on also pays for two region counts (initial and final weights,
:mod:`fastdepth.analysis.counts`), priced by :func:`regions_cost` from timings of
:func:`fastdepth.analysis.grid_regions` and :func:`~fastdepth.analysis.segment_regions`
(``docs/analysis.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from fastdepth.kernels.layout import FAN_IN, FAN_OUT
from fastdepth.kernels.vocab import ACTIVATIONS, OPTIMIZERS

from .errors import ConfigError

if TYPE_CHECKING:
    from .run import RunConfig

__all__ = [
    "LAYER_STEP_COST",
    "RATE_PER_THREAD",
    "available_memory",
    "check_memory",
    "estimate_seconds",
    "flops",
    "memory_bytes",
    "regions_cost",
    "sharpness_cost",
    "train_cost",
]

#: FLOP-equivalents per (training sample, step, weight layer) besides FLOPs and activations.
LAYER_STEP_COST = 179.0
#: FLOP-equivalents per second of one trainer thread (float64; the threads of a batch scale
#: nearly linearly, 1.96x at two: README). Calibrated on the README's W1 timings, taken on
#: the machine alone (relu 9.5 s, tanh 1.71x that at two threads; with the 2026-12-03
#: costs the model gives 9.8 s and 15.6 s): the fits ran beside other jobs, whose cache
#: traffic made even CPU time ~20% slower (107e9 both times). A busy machine is slower in
#: wall time; the sweep's progress ETA measures the rate as it goes and needs only the
#: relative costs.
RATE_PER_THREAD = 130e9
#: One grid point of a region count, in FLOP-equivalents: a fixed cost (building the point,
#: hashing its pattern, its share of the sort that counts the distinct hashes), one per
#: hidden unit (its activation and its bits), plus the forward FLOPs. Fitted on
#: grid_regions at 256 x 256 for depths 2-16 and widths 8-32 (process time, the reference
#: machine): 31 ns + 1.45 ns per hidden unit + 0.016 ns per weight, within 7%.
REGION_POINT_COST = 4000.0
REGION_POINT_UNIT_COST = 190.0
#: One exact count along a segment, in FLOP-equivalents: a fixed cost and one per hidden
#: layer (a forward pass at the breakpoints found so far, in NumPy: Python overhead, not
#: FLOPs). Fitted the same way: 40 us + 59 us per hidden layer.
REGION_SEGMENT_COST = 5.2e6
REGION_SEGMENT_LAYER_COST = 7.7e6


def memory_bytes(c: RunConfig) -> int:
    """Bytes of one run's telemetry and parameter state (see :meth:`Grid.memory_bytes`)."""
    lay = c.layout()
    # Telemetry (weight snapshots and sharpness included) is float64 whatever the run's
    # dtype; its size is the kernels' own.
    telemetry = c.telemetry_layout().size
    # initial, current, gradient, and the optimizer's state vectors
    state = lay.n_params * (3 + OPTIMIZERS.entry(c.optimizer).state)
    scratch = 0
    if c.measures_sharpness:
        # The trainer's Hessian workspace on the training split (kernels/hessian.py:
        # workspace_size, rows of ~n_train), the Lanczos basis and the warm start (float64,
        # kernels/lanczos.py: lanczos_size, plus one vector).
        u, p = sum(c.hidden_widths) + 1, lay.n_params
        state += (7 * u + max(c.hidden_widths)) * c.n_train + 7 * p
        m = min(c.sharpness_iters, p)
        scratch = (m + 2) * p + 6 * m + m * m
    return (telemetry + scratch) * 8 + state * c.np_dtype.itemsize


def flops(c: RunConfig, include_eval: bool = True) -> int:
    """Estimated FLOPs of one run (see :meth:`Grid.estimated_flops`)."""
    lay = c.layout()
    # every epoch touches each training sample once, whatever the batch size
    total = lay.flops_per_sample * c.n_train * c.epochs
    if include_eval:
        s = int(np.sum(lay.table[:, FAN_IN] * lay.table[:, FAN_OUT]))
        total += c.n_eval_points * 2 * s * (c.n_train + c.n_test)
    return int(total)


def regions_cost(c: RunConfig) -> float:
    """Estimated time of a run's two region counts in FLOP-equivalents (0 when off)."""
    if c.count_regions == "off":
        return 0.0
    if c.count_regions == "segment":
        one = REGION_SEGMENT_COST + REGION_SEGMENT_LAYER_COST * c.depth
    else:
        lay = c.layout()
        forward = 2.0 * float(np.sum(lay.table[:, FAN_IN] * lay.table[:, FAN_OUT]))
        per_point = REGION_POINT_COST + REGION_POINT_UNIT_COST * sum(c.hidden_widths) + forward
        one = per_point * c.regions_resolution**2
    return 2.0 * one


def train_cost(c: RunConfig) -> float:
    """Estimated time of one run in FLOP-equivalents (see the module docstring), its
    region counts (:func:`regions_cost`) included."""
    sample_steps = c.n_train * c.epochs  # every epoch touches each training sample once
    per_step = LAYER_STEP_COST * (c.depth + 1) + ACTIVATIONS.entry(c.activation).cost * sum(
        c.hidden_widths
    )
    return float(flops(c)) + sample_steps * per_step + sharpness_cost(c) + regions_cost(c)


def sharpness_cost(c: RunConfig) -> float:
    """FLOP-equivalents of a run's sharpness measurements (0 when it takes none).

    Each measurement prepares the point (about one gradient on the whole training set) and
    runs up to ``sharpness_iters`` Lanczos steps: a Hessian-vector product (about two
    gradients: ``kernels/hessian.py``) and a full reorthogonalisation (``4 j n_params``
    at step ``j``). Priced at the budget: the tolerance may stop it earlier.
    """
    if not c.measures_sharpness:
        return 0.0
    lay = c.layout()
    n_meas = c.telemetry_layout().n_sharpness
    grad = c.n_train * (lay.flops_per_sample + LAYER_STEP_COST * (c.depth + 1)
                        + ACTIVATIONS.entry(c.activation).cost * sum(c.hidden_widths))  # fmt: skip
    m = min(c.sharpness_iters, lay.n_params)
    return float(n_meas * ((2 * m + 1) * grad + 2 * m * m * lay.n_params))


def estimate_seconds(runs: Sequence[RunConfig], threads: int, copies: int = 1) -> float:
    """Wall time of training ``runs`` (each ``copies`` times, e.g. once per seed) with
    ``threads`` threads, by :func:`train_cost`.

    A measured model of the reference machine (``python -m bench.eta_fit`` refits it); on
    another CPU it is off by that CPU's speed, the same factor for every run. The sweep's
    progress bar measures the rate as it goes and needs only the relative costs.
    """
    if threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    busy = max(1, min(int(threads), len(runs) * copies))  # a thread trains one net at a time
    return sum(train_cost(r) for r in runs) * copies / (RATE_PER_THREAD * busy)


def available_memory() -> int | None:
    """Bytes of RAM available now (``os.sysconf``), or None where that cannot be read."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _few(values: list) -> str:
    return str(values[0]) if len(values) == 1 else "/".join(map(str, values[:5]))


def check_memory(
    runs: Sequence[RunConfig],
    limit_bytes: int | None = None,
    what: str | None = None,
    copies: int = 1,
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
    copies : int
        Each run stands for this many (a grid's settings, one per seed).

    Returns
    -------
    int
        Bytes needed.
    """
    need = sum(r.memory_bytes() for r in runs) * copies
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
        seeds = len({r.seed for r in runs}) * copies
        what = what or f"these {len(runs)} runs"
        snaps = sorted({r.snapshot_every for r in runs if r.snapshot_every})
        snap_bytes = sum(8 * r.n_snapshot_points * r.layout().n_params for r in runs) * copies
        knob = f"raise log_every (now {_few(logs)}) or eval_every (now {_few(evals)})"
        if snaps:
            knob = (
                f"raise snapshot_every (now {_few(snaps)}; weight snapshots are "
                f"{snap_bytes / gib:.3g} GiB of it), log_every (now {_few(logs)}) or "
                f"eval_every (now {_few(evals)})"
            )
        raise ConfigError(
            f"{what} needs {need / gib:.3g} GiB of telemetry and "
            f"parameter memory but the limit is {limit_bytes / gib:.3g} GiB ({source}); "
            f"{knob}, use fewer seeds (now {seeds}), or split the grid into smaller grids"
        )
    return need
