"""The sweep's command line: its flags, and the grid and store path a command line names.

The grid is built from three layers, later ones winning: the default study
(:data:`DEFAULT_STUDY` over the :class:`~fastdepth.RunConfig` defaults, 10 seeds), the
``--config`` TOML file, the flags.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import re
import textwrap
from pathlib import Path
from typing import Any

from fastdepth import __version__
from fastdepth.config import ConfigError, Grid, toml_io
from fastdepth.runner.session import DEFAULT_CHUNK_SIZE, EXECUTOR_CHUNK_SIZE, UsageError

from .flags import DEFAULT_SEEDS, DEFAULT_STUDY, GRID_FLAGS, dest, parse_set

__all__ = ["DEFAULT_SEEDS", "DEFAULT_STUDY", "GRID_FLAGS", "build_grid", "default_out",
           "make_parser"]  # fmt: skip

PROG = "python -m fastdepth.sweep"
EXIT_CODES = (
    "exit codes: 0 done (or dry run, or --verify found every committed chunk sound); 1 "
    "--verify found damaged chunks; 2 invalid command, input or store (one 'error:' "
    "line); 130 interrupted by Ctrl-C, 143 terminated by SIGTERM (both resumable)"
)

# ======================================================================================
# argument parsing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return n


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
            "take comma-separated values; integers also ranges a:b (a..b, both "
            "included) and a:b:step, "
            "reals also log grids lo:hi:n; none for 'no value' where a field allows it.",
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
            + "\n\n"
            + textwrap.fill(EXIT_CODES, 88)
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("grid (flags override --config, which overrides the defaults)")
    for flag, _field, parse, help_ in GRID_FLAGS:
        g.add_argument(flag, type=parse, default=None, metavar="LIST", help=help_)
    g.add_argument(
        "--set",
        type=parse_set,
        action="append",
        default=None,
        metavar="FIELD=LIST",
        help="any RunConfig field, e.g. --set widths=16x8,32x32 or --set dataset_params.k=2,4 "
        "(repeatable; a field set here must not also have its own flag)",
    )
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
        "--dask-dashboard",
        metavar="ADDR",
        help="with --scheduler local[:N]: where the Dask dashboard listens (default "
        "127.0.0.1:0, this host only, a free port). ':8787' exposes it on every interface "
        "to anyone who can reach this machine: use that only on a network you trust "
        "(Dask's TLS settings secure the cluster, see its docs on security)",
    )
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="print grid size, memory and estimated time, then exit without training",
    )
    r.add_argument(
        "--verify",
        metavar="DIR",
        help="check every committed chunk of the store in DIR against its done marker (sizes, "
        "SHA-256, Parquet page checksums, that each part holds its chunk's runs) and exit; "
        "--resume DIR re-trains damaged chunks",
    )
    r.add_argument("--quiet", action="store_true", help="print only the store path (and errors)")
    r.add_argument("--version", action="version", version=f"fastdepth {__version__}")
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
    """The grid of a command line: defaults, then ``--config``, then flags and ``--set``.

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
    assigned = _assignments(args)
    if "widths" in assigned:  # explicit widths replace the default depths and width
        axes.pop("depth", None)
        axes.pop("width", None)
    for flag, field, *_ in GRID_FLAGS:
        value = getattr(args, dest(flag))
        if value is not None:
            axes[field] = value
    axes.update(assigned)
    if args.residual is not None:
        axes["residual"] = [args.residual]
    # Seeds vary fastest: a chunk then holds the seeds of one setting, and the summary
    # groups are contiguous.
    axes["seed"] = axes.pop("seed", list(range(DEFAULT_SEEDS)))
    return Grid(axes, zip=zip_groups)


def _values(grid: Grid, field: str) -> list[Any]:
    return grid.distinct(field)


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
    """Whether the command line sets any part of the grid (flags, ``--set`` or ``--config``)."""
    named = [getattr(args, dest(f)) for f, *_ in GRID_FLAGS]
    return (
        args.config is not None
        or args.residual is not None
        or bool(args.set)
        or any(v is not None for v in named)
    )


def _assignments(args: argparse.Namespace) -> dict[str, list[Any]]:
    """The ``--set`` values by field; ``dataset_params.K`` keys crossed into one axis."""
    flagged = {field: flag for flag, field, *_ in GRID_FLAGS if getattr(args, dest(flag))}
    if args.residual is not None:
        flagged["residual"] = "--residual"
    out: dict[str, list[Any]] = {}
    params: dict[str, list[Any]] = {}
    for field, values in args.set or ():
        name = field.partition(".")[0]
        if name in flagged:
            raise UsageError(f"--set {field}=... and {flagged[name]} both set {name}; give one")
        if field in out or field in params:
            raise UsageError(f"--set {field}=... is given twice; list all its values in one")
        if name == "dataset_params":
            params[field] = [v for d in values for v in d.values()]
        else:
            out[field] = values
    if params:
        keys = [k.partition(".")[2] for k in params]
        out["dataset_params"] = [
            dict(zip(keys, c, strict=True)) for c in itertools.product(*params.values())
        ]
    return out
