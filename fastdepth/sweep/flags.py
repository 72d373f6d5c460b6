"""The sweep's grid flags: one per RunConfig field, values and choices from the registries.

Every list flag takes the syntax of :mod:`fastdepth.config.parse` (comma lists, integer
ranges ``a:b`` / ``a:b:step``, log grids ``lo:hi:n``, ``none``); the valid names in
``--help`` are read off the registries (datasets, init schemes, the kernels'
vocabularies), never restated. ``--set FIELD=VALUES`` reaches any field.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from fastdepth import datasets
from fastdepth.config import DEFAULTS, DTYPES, REGION_COUNTS, parse_seeds
from fastdepth.config.parse import parse_field
from fastdepth.config.run import FIELD_KINDS
from fastdepth.init import INIT_SCHEMES, RESIDUAL_INITS
from fastdepth.kernels.vocab import ACTIVATIONS, LOSSES, LR_RULES, OPTIMIZERS, SCHEDULES

__all__ = ["DEFAULT_SEEDS", "DEFAULT_STUDY", "GRID_FLAGS", "dest", "parse_set"]

# The original observational study (the W1 benchmark workload on two datasets): the same
# hyper-parameters and seeds at every depth. Only what differs from the RunConfig defaults
# is stated here (they give width 16, ReLU, He init, BCE, full-batch SGD at lr 0.05 for
# 1000 epochs on 1000 + 1000 points): lr 0.05 is the largest round rate at which
# He-initialised ReLU nets of every depth up to 8 train on `circle` without diverging.
DEFAULT_STUDY: dict[str, list[Any]] = {
    "dataset": ["circle", "rings"],
    "depth": [1, 2, 4, 6, 8],
}
DEFAULT_SEEDS = 10


def _values_of(field: str, example: str) -> Callable[[str], list]:
    """The argparse type of a list flag for ``field``: :func:`parse_field`."""

    def parse(text: str) -> list:
        try:
            return parse_field(field, text)
        except ValueError as e:
            msg = str(e)
            if FIELD_KINDS[field] == "int" and not msg.startswith("empty value"):
                msg = (
                    f"{text!r} is not a comma-separated list of integers or ranges a:b "
                    f"(a..b, both included) such as {example}"
                )
            raise argparse.ArgumentTypeError(msg) from None

    return parse


def _seeds(text: str) -> range | list[int]:
    try:
        return parse_seeds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _d(field: str) -> str:
    v = DEFAULT_STUDY.get(field, [DEFAULTS[field]])
    return ",".join("none" if x is None else str(x) for x in v)


def _names(names: Any) -> str:
    return ", ".join(names)


_PWL = _names(ACTIVATIONS.where(piecewise_linear=True))
_INITS = _names(dict.fromkeys(s.name for s in INIT_SCHEMES.values()))
_LOSSES = _names(f"{e.name} ({e.task})" for e in LOSSES.entries)
_ALPHA = _names(e.name for e in ACTIVATIONS.entries if e.alpha is not None)
_HYPER = {h: [e.name for e in OPTIMIZERS.entries if h in e.hyper] for e in OPTIMIZERS.entries
          for h in e.hyper}  # fmt: skip

# (flag, RunConfig field, help); the parser comes from the field's kind.
_TABLE: tuple[tuple[str, str, str], ...] = (
    ("--datasets", "dataset", f"datasets: {_names(datasets.DATASETS)}"),
    ("--n-train", "n_train", "training points"),
    ("--n-test", "n_test", "test points"),
    ("--noise", "noise", "dataset noise (none: each dataset's documented default)"),
    ("--data-seed", "data_seed", "seed of the data draw (held fixed across --seeds)"),
    ("--depths", "depth", "numbers of hidden layers"),
    ("--widths", "width", "hidden-layer widths, one per network (--set widths=16x8 for "
     "non-uniform layers)"),
    ("--activations", "activation", f"hidden activations: {_names(ACTIVATIONS)}"),
    ("--alpha", "alpha", f"activation parameter of {_ALPHA} (none: its default)"),
    ("--residual-block", "residual_block", "with --residual: hidden layers per block"),
    ("--residual-init", "residual_init", "with --residual: each block's last layer as "
     "drawn (none), zero so blocks start as the identity (zero), or times 1/sqrt(blocks) "
     f"(scaled); one of {_names(RESIDUAL_INITS)}"),
    ("--inits", "init", f"weight init schemes: {_INITS}"),
    ("--gain", "gain", "weight scale of every init but meanfield (none: 1)"),
    ("--sigma-w2", "sigma_w2", "meanfield init: weight variance times fan_in"),
    ("--sigma-b2", "sigma_b2", "meanfield init: bias variance (none: 0)"),
    ("--loss", "loss", f"loss: {_LOSSES}"),
    ("--optimizers", "optimizer", f"optimizers: {_names(OPTIMIZERS)}"),
    ("--lrs", "lr", "learning rates: a list 0.01,0.1 or a log grid lo:hi:n such as 1e-3:1:24"),
    ("--momentum", "momentum", f"momentum in [0, 1) ({_names(_HYPER['momentum'])} only)"),
    ("--beta1", "beta1", f"first-moment decay ({_names(_HYPER['beta1'])} only)"),
    ("--beta2", "beta2", f"second-moment decay ({_names(_HYPER['beta2'])} only)"),
    ("--eps", "eps", f"denominator epsilon ({_names(_HYPER['eps'])} only)"),
    ("--weight-decay", "weight_decay", "L2 penalty coefficient (0: off)"),
    ("--clip", "clip", "maximum total gradient norm (none: no clipping)"),
    ("--schedule", "schedule", f"learning-rate schedules: {_names(SCHEDULES)}"),
    ("--batch-size", "batch_size", "minibatch size, or full (none) for full-batch descent"),
    ("--epochs", "epochs", "passes over the training set"),
    ("--log-every", "log_every", "record loss and gradient norms every N steps"),
    ("--eval-every", "eval_every", "evaluate accuracy, dead / saturated units, activations every "
     "N steps"),
    ("--dtype", "dtype", f"float types: {_names(DTYPES)}"),
    ("--snapshot-every", "snapshot_every", "keep all the weights every N steps, for "
     "python -m fastdepth.report --animate RUN (0: off; memory and store grow with it)"),
    ("--sharpness-every", "sharpness_every", "measure the sharpness (top Hessian eigenvalue "
     "of the whole training set's loss, by Lanczos) every N steps and after the last (0: off; "
     "each costs about 2 x --sharpness-iters gradients: docs/curvature.md)"),
    ("--sharpness-k", "sharpness_k", "top Hessian eigenvalues per measurement, 1 to 4"),
    ("--sharpness-iters", "sharpness_iters", "Lanczos budget per measurement (Hessian-vector "
     "products)"),
    ("--sharpness-tol", "sharpness_tol", "Lanczos stops once every residual is below this "
     "times the spectral-norm estimate (0: always the whole budget)"),
    ("--lr-rule", "lr_rule", f"learning-rate rules: {_names(LR_RULES)}; sharpness makes the "
     "rate --lrs / lambda_0 of each network's own initial weights (--lrs 1 = half of 2 / "
     "lambda_0)"),
    ("--count-regions", "count_regions", "count the linear regions of every initial and final "
     "network (runs columns regions_init / regions_final): segment = exact along the data "
     "range (1-D data) or the diagonal of its bounding box (2-D), grid = estimated on a grid "
     f"over the box (2-D data); {_PWL} only; one of {_names(REGION_COUNTS)}"),
    ("--regions-resolution", "regions_resolution", "with --count-regions grid: grid points per "
     "axis (the cost grows with its square: ~16 ms per count at 256 for depth 8, width 16)"),
)  # fmt: skip

_EXAMPLE = {"int": "1,2,4 or 1:8", "float": "0.1,0.5", "str": "a,b"}

# (flag, RunConfig field, parser, help) of every list flag.
GRID_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    *(
        (flag, field, _values_of(field, _EXAMPLE.get(FIELD_KINDS[field], "")),
         f"{help_} (default: {_d(field)})")
        for flag, field, help_ in _TABLE
    ),
    ("--seeds", "seed", _seeds,
     f"seeds: a count 50 (seeds 0..49), a range 10:19 (10..19) or a list 1,5,9 "
     f"(default: {DEFAULT_SEEDS})"),
)  # fmt: skip


def dest(flag: str) -> str:
    """The argparse attribute of ``flag``."""
    return flag.lstrip("-").replace("-", "_")


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``--set FIELD=VALUES`` -> ``(field, values)``; any RunConfig field."""
    field, eq, values = str(text).partition("=")
    field = field.strip()
    if not eq or not field:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use FIELD=VALUES such as momentum=0.5,0.9 or widths=16x8"
        )
    try:
        return field, parse_field(field, values)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
