"""The sweep's command line: its flags, and the grid and store path a command line names.

The grid is built from three layers, later ones winning: the default study
(:data:`DEFAULT_STUDY` over the :class:`~fastdepth.RunConfig` defaults, 10 seeds), the
``--config`` TOML file, the flags.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastdepth.config import DEFAULTS, ConfigError, Grid, parse_lrs, parse_seeds, toml_io
from fastdepth.runner.session import DEFAULT_CHUNK_SIZE, EXECUTOR_CHUNK_SIZE, UsageError

__all__ = ["DEFAULT_SEEDS", "DEFAULT_STUDY", "GRID_FLAGS", "build_grid", "default_out",
           "make_parser"]  # fmt: skip

PROG = "python -m fastdepth.sweep"
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
# Planning rate for --dry-run (Grid.estimate_seconds); the compiled trainer sustains a few
# tens of GFLOP/s on a laptop-class CPU.
EST_GFLOPS = 40.0

# ======================================================================================
# argument parsing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _list_of(kind: Callable[[str], Any], what: str, example: str) -> Callable[[str], list]:
    def parse(text: str) -> list:
        items = [s.strip() for s in str(text).split(",")]
        if not items or not all(items):
            raise argparse.ArgumentTypeError(
                f"empty value in {text!r}; give a comma-separated list such as {example}"
            )
        try:
            return [kind(s) for s in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of {what} such as {example}"
            ) from None

    return parse


def _batch(text: str) -> int | None:
    if text.strip().lower() in ("full", "none"):
        return None
    return int(text)


def _lrs(text: str) -> list[float]:
    try:
        return parse_lrs(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seeds(text: str) -> list[int]:
    try:
        return list(parse_seeds(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return n


def _d(field: str) -> str:
    v = DEFAULT_STUDY.get(field, [DEFAULTS[field]])
    return ",".join("full" if x is None else str(x) for x in v)


# (flag, RunConfig field, parser, help)
GRID_FLAGS: tuple[tuple[str, str, Callable[[str], list], str], ...] = (
    ("--datasets", "dataset", _list_of(str, "dataset names", "circle,rings"),
     f"datasets (default: {_d('dataset')})"),
    ("--depths", "depth", _list_of(int, "integers", "1,2,4"),
     f"numbers of hidden layers (default: {_d('depth')})"),
    ("--widths", "width", _list_of(int, "integers", "8,16"),
     f"hidden-layer widths, one per network (default: {_d('width')})"),
    ("--activations", "activation", _list_of(str, "activation names", "relu,tanh"),
     f"hidden activations (default: {_d('activation')})"),
    ("--inits", "init", _list_of(str, "init schemes", "he,xavier"),
     f"weight init schemes (default: {_d('init')})"),
    ("--residual-init", "residual_init", _list_of(str, "residual inits", "none,zero"),
     "with --residual: each block's last layer as drawn (none), zero so blocks start as "
     "the identity (zero), or times 1/sqrt(blocks) (scaled) (default: none)"),
    ("--optimizers", "optimizer", _list_of(str, "optimizers", "sgd,adam"),
     f"optimizers: sgd, momentum, adam (default: {_d('optimizer')})"),
    ("--lrs", "lr", _lrs,
     f"learning rates: a list 0.01,0.1 or a log grid lo:hi:n such as 1e-3:1:24 "
     f"(default: {_d('lr')})"),
    ("--seeds", "seed", _seeds,
     f"seeds: a count 50 (seeds 0..49), a range 10:20 or a list 1,5,9 "
     f"(default: {DEFAULT_SEEDS})"),
    ("--epochs", "epochs", _list_of(int, "integers", "1000"),
     f"passes over the training set (default: {_d('epochs')})"),
    ("--batch-size", "batch_size", _list_of(_batch, "integers or 'full'", "full,32"),
     f"minibatch size, or 'full' for full-batch gradient descent (default: {_d('batch_size')})"),
    ("--loss", "loss", _list_of(str, "losses", "bce"),
     f"loss: bce (classification) or mse (regression) (default: {_d('loss')})"),
    ("--dtype", "dtype", _list_of(str, "dtypes", "float64"),
     f"float64 or float32 (default: {_d('dtype')})"),
    ("--n-train", "n_train", _list_of(int, "integers", "1000"),
     f"training points (default: {_d('n_train')})"),
    ("--n-test", "n_test", _list_of(int, "integers", "1000"),
     f"test points (default: {_d('n_test')})"),
    ("--log-every", "log_every", _list_of(int, "integers", "1"),
     f"record loss and gradient norms every N steps (default: {_d('log_every')})"),
    ("--eval-every", "eval_every", _list_of(int, "integers", "50"),
     f"evaluate accuracy, dead units, activations every N steps (default: {_d('eval_every')})"),
)  # fmt: skip


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def make_parser() -> argparse.ArgumentParser:
    """The ``python -m fastdepth.sweep`` argument parser."""
    p = _Parser(
        prog=PROG,
        description=textwrap.fill(
            "Train a grid of small MLPs (every combination of the listed values) with the "
            "compiled trainer, store every run in a resumable results directory, and print "
            "the across-seeds summary. With no flags it runs the original depth study: "
            "circle and rings, depths 1,2,4,6,8, width 16, ReLU, He init, sigmoid/BCE output, "
            "full-batch gradient descent at lr 0.05 for 1000 epochs, 10 seeds. List flags "
            "take comma-separated values.",
            88,
        ),
        epilog=(
            "examples:\n"
            f"  {PROG} --seeds 50\n"
            f"  {PROG} --datasets xor --depths 1,2,4 --lrs 1e-3:1:8 --seeds 5 --dry-run\n"
            f"  {PROG} --config study.toml --seeds 20 --out runs/study\n"
            f"  {PROG} --resume runs/study\n\n"
            + textwrap.fill(
                "Running the same command again with the same --out continues an interrupted "
                "sweep; so does --resume DIR. Load results with fastdepth.load(DIR) and "
                "fastdepth.load_curves(DIR, depth=4).",
                88,
            )
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("grid (flags override --config, which overrides the defaults)")
    for flag, _field, parse, help_ in GRID_FLAGS:
        g.add_argument(flag, type=parse, default=None, metavar="LIST", help=help_)
    g.add_argument(
        "--residual",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="residual connections (default: off)",
    )
    g.add_argument(
        "--config",
        metavar="TOML",
        help="a whole grid in a TOML file (the layout Grid.to_toml writes: [base], [axes], zip)",
    )
    r = p.add_argument_group("run")
    r.add_argument(
        "--out",
        metavar="DIR",
        help="store directory (default: runs/<datasets>-d<depths>-s<seeds>-<YYYYmmdd-HHMMSS>); "
        "an existing store with the same grid is resumed",
    )
    r.add_argument("--resume", metavar="DIR", help="continue the sweep stored in DIR")
    r.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="training threads (default: all cores Numba sees); with --scheduler, Numba "
        "threads per chunk on a worker (default: cores // N for local:N, else the worker's "
        "share, see fastdepth.distributed)",
    )
    r.add_argument(
        "--chunk-size",
        type=_positive_int,
        metavar="N",
        help=f"runs per chunk, the unit of progress and resume (default: {DEFAULT_CHUNK_SIZE}; "
        "fixed when a store is created)",
    )
    r.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="train the chunks on Dask: local[:N] starts N worker processes here (default N: "
        "the cores), tcp://host:8786 or tls://host:8786 uses a running cluster; the results "
        "are the same as without it (needs pip install 'fastdepth[dask]'; default chunk "
        f"size {EXECUTOR_CHUNK_SIZE})",
    )
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="print grid size, memory and estimated time, then exit without training",
    )
    r.add_argument("--quiet", action="store_true", help="print only the store path (and errors)")
    r.add_argument(
        "--report",
        action="store_true",
        help="run fastdepth.report on the store at the end (when it is installed)",
    )
    return p


# ======================================================================================
# the grid


def _read_toml(path: str) -> tuple[dict[str, Any], dict[str, Any], list]:
    """``(base, axes, zip)`` of a grid TOML file, without validating it on its own."""
    try:
        return toml_io.grid_parts(toml_io.read(path, "--config"), f"--config {path}")
    except ConfigError as e:
        raise UsageError(str(e)) from None


def build_grid(args: argparse.Namespace) -> Grid:
    """The grid of a command line: defaults, then ``--config``, then flags.

    Raises
    ------
    ConfigError
        For any invalid run (before anything is trained).
    UsageError
        For an unreadable config file.
    """
    axes: dict[str, Any] = {k: list(v) for k, v in DEFAULT_STUDY.items()}
    zip_groups: list = []
    if args.config is not None:
        base, file_axes, zip_groups = _read_toml(args.config)
        if "widths" in base or "widths" in file_axes:  # explicit widths replace depth/width
            axes.pop("depth", None)
            axes.pop("width", None)
        for k, v in base.items():
            axes[k] = [v]
        axes.update(file_axes)
    for flag, field, *_ in GRID_FLAGS:
        value = getattr(args, _dest(flag))
        if value is not None:
            axes[field] = value
    if args.residual is not None:
        axes["residual"] = [args.residual]
    # Seeds vary fastest: a chunk then holds the seeds of one setting, and the summary
    # groups are contiguous.
    axes["seed"] = axes.pop("seed", list(range(DEFAULT_SEEDS)))
    return Grid(axes, zip=zip_groups)


def _values(grid: Grid, field: str) -> list[Any]:
    seen: dict[Any, None] = {}
    for r in grid:
        seen.setdefault(getattr(r, field), None)
    return list(seen)


def _label(values: list[Any]) -> str:
    if len(values) > 6:
        return f"{values[0]}..{values[-1]}"
    return "-".join(str(v) for v in values)


def default_out(grid: Grid, now: _dt.datetime | None = None) -> Path:
    """``runs/<datasets>-d<depths>-s<seeds>-<YYYYmmdd-HHMMSS>``."""
    seeds = sorted(_values(grid, "seed"))
    if seeds == list(range(len(seeds))):
        s = str(len(seeds))
    elif seeds == list(range(seeds[0], seeds[-1] + 1)):
        s = f"{seeds[0]}-{seeds[-1]}"
    else:
        s = f"{len(seeds)}"
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    name = f"{_label(_values(grid, 'dataset'))}-d{_label(_values(grid, 'depth'))}-s{s}-{stamp}"
    return Path("runs") / re.sub(r"[^A-Za-z0-9._-]", "_", name)


def grid_given(args: argparse.Namespace) -> bool:
    """Whether the command line sets any part of the grid (flags or ``--config``)."""
    named = [getattr(args, _dest(f)) for f, *_ in GRID_FLAGS]
    return args.config is not None or args.residual is not None or any(v is not None for v in named)
