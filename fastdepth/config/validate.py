"""Validation of a :class:`~fastdepth.config.RunConfig`: every field and combination.

The vocabularies (activations, losses, optimizers, schedules) and what their entries
need come from :mod:`fastdepth.kernels.vocab`, the datasets from
:data:`fastdepth.datasets.DATASETS` and the init schemes from :mod:`fastdepth.init`;
nothing here restates them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fastdepth import datasets
from fastdepth.init import INIT_SCHEMES, check_init_args, check_residual_init
from fastdepth.kernels.telemetry import MAX_SHARPNESS_K, telemetry_size
from fastdepth.kernels.vocab import ACTIVATIONS, LOSSES, LR_RULES, OPTIMIZERS, SCHEDULES

from .errors import ConfigError, unknown

if TYPE_CHECKING:
    from .run import RunConfig

__all__ = [
    "ALPHA_ACTIVATIONS",
    "DTYPES",
    "MAX_NOISE",
    "MAX_REGIONS_RESOLUTION",
    "MAX_RUN_BYTES",
    "REGION_COUNTS",
    "run_bytes",
    "validate",
]

DTYPES = ("float64", "float32")
# More Lanczos steps than this per measurement is a typo (the basis is iters x n_params).
MAX_SHARPNESS_ITERS = 1000
# One network's data, parameters and telemetry may take at most this much memory: larger
# values are typos (n_train = 1e12, width = 4e15), refused here before any allocation.
MAX_RUN_BYTES = 2**40
# Dataset noise whose square is still a finite float64 (1e308 would make the data inf).
MAX_NOISE = 1e150
# Activations that take a parameter (leaky_relu slope, elu scale).
ALPHA_ACTIVATIONS = tuple(e.name for e in ACTIVATIONS.entries if e.alpha is not None)
# RunConfig.count_regions: none, exact along a segment, or estimated on a 2-D grid.
REGION_COUNTS = ("off", "segment", "grid")
# A 4096 x 4096 grid is 16.8 M points (128 MiB of hashes, ~4 s per count at depth 8 width
# 16); more is a typo for a per-run measurement.
MAX_REGIONS_RESOLUTION = 4096


def validate(c: RunConfig) -> None:
    """Raise :class:`ConfigError` saying what to change, for the first invalid field."""
    _data(c)
    _size(c)
    _architecture(c)
    _regions(c)
    _optimizer(c)
    _schedule(c)
    _sharpness(c)


def _data(c: RunConfig) -> None:
    if c.dataset not in datasets.DATASETS:
        raise unknown("dataset", c.dataset, datasets.DATASETS)
    for name in ("n_train", "n_test"):
        if getattr(c, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(c, name)}")
    for name in ("data_seed", "seed"):
        if getattr(c, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(c, name)}")
    if c.noise is not None and not (math.isfinite(c.noise) and abs(c.noise) <= MAX_NOISE):
        raise ConfigError(f"noise must be finite and at most {MAX_NOISE:g}, got {c.noise}")
    try:
        datasets.resolve_params(c.dataset, c.noise, **c.dataset_kwargs)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def run_bytes(c: RunConfig) -> int:
    """Bytes of one run's data, parameter state and telemetry, by arithmetic alone.

    Valid for any positive sizes (nothing is allocated, no layer list is built), so it
    can refuse absurd sizes before anything else looks at them.
    """
    n_in = datasets.DATASETS[c.dataset].n_in
    w = c.width
    if c.widths is not None:
        sizes = (n_in, *c.widths, 1)
        n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    else:
        n_params = (n_in + 1) * w + (c.depth - 1) * (w + 1) * w + (w + 1)
    batch = c.n_train if c.batch_size is None else c.batch_size
    n_steps = c.epochs * -(-c.n_train // batch)
    n_layers = c.depth + 1
    snap = max(c.snapshot_every, 0)
    sharp = max(c.sharpness_every, 0)
    k = min(max(c.sharpness_k, 1), MAX_SHARPNESS_K)
    tel = telemetry_size(n_layers, n_steps, c.log_every, c.eval_every, n_params, snap, sharp, k,
                         c.lr_rule == "sharpness")  # fmt: skip
    state = 3 + OPTIMIZERS.entry(c.optimizer).state if c.optimizer in OPTIMIZERS else 5
    data = (c.n_train + c.n_test) * (n_in + 1)
    return 8 * (tel + data + n_params * state)


def _size(c: RunConfig) -> None:
    batch = 1 if c.batch_size is None else c.batch_size
    sizes = (c.depth, c.width, c.epochs, c.log_every, c.eval_every, batch, c.n_train, c.n_test)
    if min(sizes) < 1 or (c.widths is not None and min(c.widths) < 1):
        return  # reported by the checks below, field by field
    need = run_bytes(c)
    if need > MAX_RUN_BYTES:
        raise ConfigError(
            f"one run needs {need / 2**30:.3g} GiB for its data, parameters and telemetry "
            f"(n_train={c.n_train}, n_test={c.n_test}, depth={c.depth}, width={c.width}, "
            f"epochs={c.epochs}), more than the {MAX_RUN_BYTES / 2**30:.0f} GiB allowed per "
            "network; lower them, or raise log_every / eval_every"
            + (" / snapshot_every" if c.snapshot_every > 0 else "")
        )


def _architecture(c: RunConfig) -> None:
    if c.depth < 1:
        raise ConfigError(
            f"depth must be >= 1 (number of hidden layers; the output layer is always "
            f"added), got {c.depth}"
        )
    if c.width < 1 or min(c.hidden_widths) < 1:
        got = c.width if c.widths is None else c.widths
        raise ConfigError(f"width must be >= 1, got {got}")
    if c.activation not in ACTIVATIONS:
        raise unknown("activation", c.activation, ACTIVATIONS)
    if c.alpha is not None:
        if c.activation not in ALPHA_ACTIVATIONS:
            raise ConfigError(
                f"alpha has no effect with activation={c.activation!r}; it applies to "
                f"{', '.join(ALPHA_ACTIVATIONS)} only. Set alpha=None"
            )
        if not math.isfinite(c.alpha):
            raise ConfigError(f"alpha must be finite, got {c.alpha}")
    if c.residual_block < 1:
        raise ConfigError(f"residual_block must be >= 1, got {c.residual_block}")
    if c.residual and c.widths is not None:
        raise ConfigError(
            f"residual connections need equal hidden widths, got {c.widths}; use "
            f"width={c.widths[0]} or residual=False"
        )
    try:
        check_residual_init(c.residual_init, c.rblock)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if c.init not in INIT_SCHEMES:
        raise unknown("init", c.init, INIT_SCHEMES)
    try:
        check_init_args(c.init, c.gain, c.sigma_w2, c.sigma_b2)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if c.dtype not in DTYPES:
        raise unknown("dtype", c.dtype, DTYPES)


def _regions(c: RunConfig) -> None:
    if c.count_regions not in REGION_COUNTS:
        raise unknown("count_regions", c.count_regions, REGION_COUNTS)
    if not 2 <= c.regions_resolution <= MAX_REGIONS_RESOLUTION:
        raise ConfigError(
            f"regions_resolution must be in [2, {MAX_REGIONS_RESOLUTION}] (grid points per "
            f"axis of count_regions='grid'), got {c.regions_resolution}"
        )
    if c.count_regions == "off":
        return
    if not ACTIVATIONS.entry(c.activation).piecewise_linear:
        pwl = ACTIVATIONS.where(piecewise_linear=True)
        raise ConfigError(
            f"count_regions={c.count_regions!r} needs a piecewise-linear activation "
            f"({', '.join(pwl)}); a {c.activation} network has no linear regions. Set "
            "count_regions='off' or change the activation"
        )
    n_in = datasets.DATASETS[c.dataset].n_in
    if c.count_regions == "grid" and n_in != 2:
        raise ConfigError(
            f"count_regions='grid' counts on a 2-D grid, but dataset {c.dataset!r} has "
            f"{n_in} input(s); use count_regions='segment' (exact along the data range)"
        )


def _optimizer(c: RunConfig) -> None:
    if c.loss not in LOSSES:
        raise unknown("loss", c.loss, LOSSES)
    need, task = LOSSES.entry(c.loss).task, c.task
    if need != task:
        fits = LOSSES.where(task=task)
        use = f", use loss={fits[0]!r}" if fits else ""
        raise ConfigError(
            f"loss={c.loss!r} needs a {need} dataset; {c.dataset!r} is a {task} task{use}"
        )
    if c.optimizer not in OPTIMIZERS:
        raise unknown("optimizer", c.optimizer, OPTIMIZERS)
    if not (math.isfinite(c.lr) and c.lr > 0):
        raise ConfigError(f"lr must be a finite number > 0, got {c.lr}")
    if not 0.0 <= c.momentum < 1.0:
        raise ConfigError(f"momentum must be in [0, 1), got {c.momentum}")
    for name in ("beta1", "beta2"):
        if not 0.0 <= getattr(c, name) < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), got {getattr(c, name)}")
    if not (math.isfinite(c.eps) and c.eps > 0):
        raise ConfigError(f"eps must be a finite number > 0, got {c.eps}")
    if not (math.isfinite(c.weight_decay) and c.weight_decay >= 0):
        raise ConfigError(
            f"weight_decay must be a finite number >= 0 (0 = off), got {c.weight_decay}"
        )
    if c.clip is not None and not (math.isfinite(c.clip) and c.clip > 0):
        raise ConfigError(
            f"clip (max total gradient norm) must be > 0, or None to disable, got {c.clip}"
        )


def _schedule(c: RunConfig) -> None:
    if c.schedule not in SCHEDULES:
        raise unknown("schedule", c.schedule, SCHEDULES)
    if c.batch_size is not None and not 1 <= c.batch_size <= c.n_train:
        raise ConfigError(
            f"batch_size must be in [1, n_train={c.n_train}], or None for full batch, "
            f"got {c.batch_size}"
        )
    if c.epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {c.epochs}")
    for name in ("log_every", "eval_every"):
        if getattr(c, name) < 1:
            raise ConfigError(f"{name} must be >= 1 (steps), got {getattr(c, name)}")
    if c.snapshot_every < 0:
        raise ConfigError(
            f"snapshot_every must be >= 0 (steps between weight snapshots; 0 = off), got "
            f"{c.snapshot_every}"
        )


def _sharpness(c: RunConfig) -> None:
    if c.sharpness_every < 0:
        raise ConfigError(
            f"sharpness_every must be >= 0 (steps between sharpness measurements; 0 = off), "
            f"got {c.sharpness_every}"
        )
    if not 1 <= c.sharpness_k <= MAX_SHARPNESS_K:
        raise ConfigError(
            f"sharpness_k (top Hessian eigenvalues per measurement) must be in [1, "
            f"{MAX_SHARPNESS_K}], got {c.sharpness_k}"
        )
    if not c.sharpness_k <= c.sharpness_iters <= MAX_SHARPNESS_ITERS:
        raise ConfigError(
            f"sharpness_iters (Lanczos steps per measurement) must be in [sharpness_k="
            f"{c.sharpness_k}, {MAX_SHARPNESS_ITERS}], got {c.sharpness_iters}"
        )
    if not (math.isfinite(c.sharpness_tol) and c.sharpness_tol >= 0):
        raise ConfigError(
            f"sharpness_tol must be a finite number >= 0 (0 = always sharpness_iters "
            f"steps), got {c.sharpness_tol}"
        )
    if c.lr_rule not in LR_RULES:
        raise unknown("lr_rule", c.lr_rule, LR_RULES)
