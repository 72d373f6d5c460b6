"""``python -m fastdepth.sweep``: a whole depth study from one command, stored safely, resumable.

::

    python -m fastdepth.sweep --seeds 50           # the original depth study, 500 runs
    python -m fastdepth.sweep --datasets xor --depths 1,2,4 --lrs 1e-3:1:8 --seeds 5
    python -m fastdepth.sweep --resume runs/circle-rings-d1-2-4-6-8-s50-20250101-120000
    python -m fastdepth.sweep --seeds 200 --scheduler local:4        # 4 worker processes
    python -m fastdepth.sweep --seeds 200 --scheduler tcp://head:8786 # a Dask cluster

The grid is built from three layers, later ones winning: the default study
(:data:`DEFAULT_STUDY`, 10 seeds), the ``--config`` TOML file, the flags. It is trained chunk
by chunk (:func:`fastdepth.engine.train_many`) into a :class:`fastdepth.store.Store`, which
makes the sweep resumable after a crash, Ctrl-C or SIGKILL. At the end the across-seeds
summary (:mod:`fastdepth.summary`) is printed and saved in the store. With ``--scheduler``
the chunks are trained by Dask workers and committed by this process into the same store
(:mod:`fastdepth.distributed`).

Exit codes: 0 done (or dry run), 2 invalid command or a store that refuses it (lock held,
different grid), 130 interrupted (resumable), 143 terminated (SIGTERM; resumable).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import math
import os
import re
import shlex
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import distributed
from .config import ConfigError, Grid, RunConfig, parse_lrs, parse_seeds
from .engine import train_many
from .store import (
    GridMismatchError,
    Store,
    StoreError,
    StoreLockedError,
    chunk_bounds,
    load,
)
from .summary import format_text, summary_table, write_summary

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - python 3.10 (setup.cfg installs tomli)
    import tomli as tomllib

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_SEEDS", "DEFAULT_STUDY", "build_grid", "main"]

PROG = "python -m fastdepth.sweep"
# The original observational study (the W1 benchmark workload on two datasets): the same
# hyper-parameters and seeds at every depth. lr 0.05 is the largest round rate at which
# He-initialised ReLU nets of every depth up to 8 train on `circle` without diverging.
DEFAULT_STUDY: dict[str, list[Any]] = {
    "dataset": ["circle", "rings"],
    "depth": [1, 2, 4, 6, 8],
    "width": [16],
    "activation": ["relu"],
    "init": ["he"],
    "optimizer": ["sgd"],
    "lr": [0.05],
    "loss": ["bce"],
    "batch_size": [None],
    "epochs": [1000],
    "n_train": [1000],
    "n_test": [1000],
    "residual": [False],
    "dtype": ["float64"],
    "log_every": [1],
    "eval_every": [50],
}
DEFAULT_SEEDS = 10
# Enough networks per train_many call to keep many threads busy, few enough that progress,
# Ctrl-C and resume have a fine grain. Fixed per store (saved in its manifest).
DEFAULT_CHUNK_SIZE = 64
# Planning rate for --dry-run (Grid.estimate_seconds); the compiled trainer sustains a few
# tens of GFLOP/s on a laptop-class CPU.
EST_GFLOPS = 40.0
# FLOP-equivalents of the fixed work per (sample, step, layer) of training (activations,
# loop and telemetry overhead), fitted on the default study's chunk times; see _cost.
ETA_LAYER_STEP_FLOPS = 1800.0
# Plain progress lines (no terminal) at most this often.
LINE_INTERVAL = 10.0


class UsageError(Exception):
    """An invalid command line; reported as one ``error: ...`` line, exit code 2."""


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
    v = DEFAULT_STUDY[field]
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
        f"size {distributed.DEFAULT_CHUNK_SIZE})",
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


def _nullable_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(RunConfig) if "None" in str(f.type)}


def _read_toml(path: str) -> tuple[dict[str, Any], dict[str, Any], list]:
    """``(base, axes, zip)`` of a grid TOML file, without validating it on its own.

    (A file may be completed by flags, e.g. a regression dataset given on the command line
    for a file that sets ``loss = "mse"``.)
    """
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"cannot read --config {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"--config {path} is not valid TOML: {e}") from None
    unknown = [k for k in doc if k not in ("axes", "base", "zip")]
    if unknown:
        raise UsageError(
            f"--config {path}: unknown top-level key {unknown[0]!r}; a grid file has "
            "[base], [axes] and zip"
        )
    if not isinstance(doc.get("base", {}), dict) or not isinstance(doc.get("axes", {}), dict):
        raise UsageError(f"--config {path}: [base] and [axes] must be tables")
    nullable = _nullable_fields()

    def none(k: str, v: Any) -> Any:  # TOML has no null: Grid.to_toml writes "none"
        return None if (v == "none" and k in nullable) else v

    base = {k: none(k, v) for k, v in doc.get("base", {}).items()}
    axes = {
        k: [none(k, x) for x in v] if isinstance(v, list) else none(k, v)
        for k, v in doc.get("axes", {}).items()
    }
    return base, axes, list(doc.get("zip", []))


def _grid_flags_given(args: argparse.Namespace) -> bool:
    named = [getattr(args, _dest(f)) for f, *_ in GRID_FLAGS]
    return args.config is not None or args.residual is not None or any(v is not None for v in named)


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


# ======================================================================================
# output helpers


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


class _Console:
    """Notes and progress on stderr: a tqdm bar on a terminal, plain lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None

    def note(self, msg: str, force: bool = False) -> None:
        if self.quiet and not force:
            return
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)


def _cost(run: RunConfig) -> float:
    """Relative training time of a run, for the ETA: FLOPs plus a per-layer-step overhead.

    Measured on the default study (2 cores): chunk time ~ FLOPs / 68 GFLOP/s + 27 ns per
    (sample, step, layer). FLOPs alone overrate deep nets against shallow ones ~3x, and run
    counts underrate them; chunks in grid order go from shallow to deep, so either would
    make the first ETAs wrong by minutes.
    """
    return float(run.flops()) + ETA_LAYER_STEP_FLOPS * run.n_train * run.epochs * (run.depth + 1)


class _Progress:
    """Runs done / total, runs per second and an ETA weighted by each run's cost.

    The ETA divides the remaining cost (:func:`_cost`) by this session's cost rate: chunks
    of deep nets take far longer than chunks of shallow ones.
    """

    def __init__(self, console: _Console, total: int, done: int, cost_total: float,
                 cost_done: float) -> None:  # fmt: skip
        self.console = console
        self.total, self.done = total, done
        self.cost_total, self.cost_done = cost_total, cost_done
        self.session_runs, self.session_cost = 0, 0.0
        self.t0 = time.perf_counter()
        self.last_line = -math.inf
        self.mode = "off" if console.quiet else ("bar" if sys.stderr.isatty() else "lines")
        if self.mode == "bar":
            from tqdm import tqdm

            console.bar = tqdm(
                total=total,
                initial=done,
                unit=" runs",
                file=sys.stderr,
                dynamic_ncols=True,
                # tqdm's own ETA assumes equal runs; ours (the postfix) weighs them by FLOPs
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} runs "
                "[{elapsed}, {rate_fmt}{postfix}]",
                postfix="ETA ?",
                desc="sweep",
            )

    def start(self) -> None:
        """Start the clock (after the trainer is compiled, so the rate is the trainer's)."""
        self.t0 = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def eta(self) -> float:
        if self.session_cost <= 0:
            return math.nan
        rate = self.session_cost / max(self.elapsed, 1e-9)
        return (self.cost_total - self.cost_done) / rate

    def update(self, runs: int, cost: float) -> None:
        self.done += runs
        self.session_runs += runs
        self.cost_done += cost
        self.session_cost += cost
        bar = self.console.bar
        if bar is not None:
            bar.postfix = f"ETA {_hms(self.eta())}"
            bar.update(runs)
        elif self.mode == "lines":
            now = time.perf_counter()
            if now - self.last_line >= LINE_INTERVAL or self.done >= self.total:
                self.last_line = now
                rate = self.session_runs / max(self.elapsed, 1e-9)
                pct = 100.0 * self.done / max(self.total, 1)
                self.console.note(
                    f"sweep: {self.done}/{self.total} runs ({pct:.0f}%), {rate:.1f} runs/s, "
                    f"elapsed {_hms(self.elapsed)}, ETA {_hms(self.eta())}"
                )

    def close(self) -> None:
        if self.console.bar is not None:
            self.console.bar.close()
            self.console.bar = None


class _Interrupted(Exception):
    """Raised by the signal handlers to abort the current chunk."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _GracefulStop:
    """First Ctrl-C: finish the current chunk, then stop. Second Ctrl-C or SIGTERM: abort.

    A chunk in compiled code cannot be interrupted anyway (Python handles signals when
    the kernel returns); letting it finish and be written saves its work.
    """

    def __init__(self, console: _Console) -> None:
        self.console = console
        self.requested = False
        self._old: dict[int, Any] = {}

    def _on_int(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise _Interrupted(130)
        self.requested = True
        self.console.note(
            "Ctrl-C: stopping after the current chunk (Ctrl-C again to abandon it)", force=True
        )

    def _on_term(self, signum: int, frame: Any) -> None:
        raise _Interrupted(128 + signal.SIGTERM)

    def __enter__(self) -> _GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._old[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_int)
            self._old[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._on_term)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _after(seconds: float, fn: Callable[[], None]) -> Iterator[None]:
    """Call ``fn`` from a timer thread if the block is still running after ``seconds``."""
    timer = threading.Timer(seconds, fn)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _warm_up(grid: Grid, console: _Console) -> None:
    """Compile (or load from the on-disk cache) the trainer for every dtype in the grid.

    Keeps the compile time out of the first chunk, so rate and ETA describe training.
    """
    t = time.perf_counter()
    dtypes = sorted({r.dtype for r in grid})
    msg = "compiling the trainer (first use only; cached on disk afterwards, ~30 s)..."
    with _after(3.0, lambda: console.note(msg)):
        for dt in dtypes:
            tiny = RunConfig(n_train=8, n_test=8, depth=1, width=2, epochs=1, dtype=dt)
            train_many([tiny], threads=1)
    took = time.perf_counter() - t
    if took > 3.0:
        console.note(f"trainer ready after {took:.0f} s")


# ======================================================================================
# planning


@dataclass
class Plan:
    """What a command resolves to, before anything is written."""

    path: Path
    grid: Grid
    chunk_size: int
    existing: bool  # the store exists already (resume)
    threads: int | None  # --threads (None: Numba's default)
    scheduler: str | None = None  # --scheduler (None: train in this process)


def _memory_limit() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return None


# Packed telemetry, then per-run DataFrames, then Arrow tables of a chunk, all alive at once.
_MEMORY_FACTOR = 3


def _chunk_memory(runs: Sequence[RunConfig], chunk_size: int) -> int:
    sizes = [r.memory_bytes() for r in runs]
    return max(
        (sum(sizes[a:b]) for a, b in chunk_bounds(len(sizes), chunk_size)), default=0
    ) * _MEMORY_FACTOR  # fmt: skip


def _check_threads(threads: int | None) -> None:
    if threads is None:
        return
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        raise UsageError(
            f"--threads {threads} is more than the {numba.config.NUMBA_NUM_THREADS} threads "
            "Numba was started with (set NUMBA_NUM_THREADS to allow more)"
        )


def plan(args: argparse.Namespace) -> Plan:
    """Resolve the grid, store path and chunk size of a command; validate everything.

    Raises
    ------
    UsageError, ConfigError, StoreError
        Whatever makes the command invalid, before any directory is created.
    """
    scheduler = _check_scheduler(args.scheduler)
    if scheduler is None or scheduler[0] == "local":  # remote workers have their own cores
        _check_threads(args.threads)
    if args.resume is not None:
        path = Path(args.resume)
        if args.out is not None and Path(args.out).resolve() != path.resolve():
            raise UsageError(f"--out {args.out} and --resume {args.resume} name different stores")
        store = Store(path)
        if not store.exists():
            raise UsageError(f"--resume {path}: no fastdepth store there (no manifest.json)")
        grid = build_grid(args) if _grid_flags_given(args) else store.grid()
        store.check_grid(grid)
        existing = True
    else:
        grid = build_grid(args)
        path = Path(args.out) if args.out is not None else default_out(grid)
        store = Store(path)
        existing = store.exists()
        if existing:
            store.check_grid(grid)
        elif not store.is_empty_dir():
            raise UsageError(
                f"--out {path} exists and is not a fastdepth store; choose a new directory"
            )
    if existing:
        chunk_size = store.chunk_size()
        if args.chunk_size is not None and args.chunk_size != chunk_size:
            raise UsageError(
                f"--chunk-size {args.chunk_size} differs from the store's chunk size "
                f"{chunk_size} (fixed when {path} was created); drop --chunk-size to resume"
            )
    elif scheduler is not None:
        chunk_size = args.chunk_size or distributed.DEFAULT_CHUNK_SIZE
    else:
        chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    need, limit = _chunk_memory(grid.runs(), chunk_size), _memory_limit()
    if limit is not None and need > limit:
        raise UsageError(
            f"a chunk of {chunk_size} runs needs about {_bytes(need)} but only {_bytes(limit)} "
            "(half the available RAM) is free; use a smaller --chunk-size, raise --log-every "
            "or --eval-every"
        )
    return Plan(path, grid, chunk_size, existing, args.threads, args.scheduler)


def _check_scheduler(spec: str | None) -> tuple | None:
    """``--scheduler``, parsed; a UsageError if malformed or if Dask is not installed."""
    if spec is None:
        return None
    try:
        parsed = distributed.parse_scheduler(spec)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        distributed._import_dask()
    except distributed.DaskNotInstalledError:
        raise UsageError(
            f"--scheduler needs Dask, which is not installed: {distributed.DASK_INSTALL}"
        ) from None
    return parsed


def _shape(grid: Grid) -> str:
    vals = grid.values
    return " x ".join(f"{k}[{len(vals[k])}]" for k in grid.axes) or "a single run"


def _fixed(grid: Grid) -> str:
    out = []
    for k, v in grid.values.items():
        if len(v) == 1:
            x = v[0]
            out.append(f"{k}={'full' if (k == 'batch_size' and x is None) else x}")
    for k, v in grid.base.items():
        out.append(f"{k}={v}")
    return " ".join(out)


def _dry_run(p: Plan) -> str:
    import numba

    grid = p.grid
    bounds = chunk_bounds(len(grid), p.chunk_size)
    threads = p.threads or numba.get_num_threads()
    if p.existing:
        done = set(Store(p.path).done_chunks())
        todo = [b for k, b in enumerate(bounds) if k not in done]
        where = f"{p.path} (existing store: {len(done)}/{len(bounds)} chunks done; would resume)"
        runs = grid.runs()
        todo_runs = [r for a, b in todo for r in runs[a:b]]
    else:
        where = f"{p.path} (new)"
        todo_runs = grid.runs()
    flops = sum(r.flops() for r in todo_runs)
    secs = grid.estimate_seconds(EST_GFLOPS) * flops / max(grid.estimated_flops(), 1)
    lines = [
        "dry run: nothing is trained or written",
        f"grid:     {len(grid)} runs = {_shape(grid)}",
        f"fixed:    {_fixed(grid)}",
        f"store:    {where}",
        f"chunks:   {len(bounds)} of up to {p.chunk_size} runs, "
        + (f"on Dask ({p.scheduler})" if p.scheduler else f"{threads} threads"),
        f"memory:   {_bytes(grid.memory_bytes())} of telemetry and parameters in all; about "
        f"{_bytes(_chunk_memory(grid.runs(), p.chunk_size))} per chunk in flight",
        f"compute:  {flops / 1e9:.1f} GFLOP to train; about {_hms(secs)} at {EST_GFLOPS:.0f} "
        f"GFLOP/s (estimate: grid.estimate_seconds; the first sweep also compiles, ~30 s)",
    ]
    return "\n".join(lines)


# ======================================================================================
# running


def _resume_hint(p: Plan) -> str:
    cmd = f"{PROG} --resume {shlex.quote(str(p.path))}"
    if p.threads is not None:
        cmd += f" --threads {p.threads}"
    if p.scheduler is not None:
        cmd += f" --scheduler {shlex.quote(p.scheduler)}"
    return cmd


def _prepare(store: Store, p: Plan, threads: int, command: list[str], console: _Console):
    """With the lock held: create or check the store, clean up; the chunks left to train."""
    if store.exists():
        store.check_grid(p.grid)  # again, now that no other sweep can change the store
    elif not store.is_empty_dir():
        raise UsageError(f"--out {p.path} exists and is not a fastdepth store; choose a new one")
    else:
        store.create(p.grid, p.chunk_size, threads, command)
    removed = store.remove_tmp()
    if removed:
        console.note(f"removed {len(removed)} temporary files left by an interrupted sweep")
    store.add_session(threads, command)
    bounds = store.chunks()
    done = set(store.done_chunks())
    n_done = sum(b - a for k, (a, b) in enumerate(bounds) if k in done)
    if done:
        console.note(
            f"resuming {p.path}: {len(done)}/{len(bounds)} chunks done "
            f"({n_done}/{len(p.grid)} runs), {len(bounds) - len(done)} to go"
        )
    plural = "s" if len(bounds) != 1 else ""
    where = f"on Dask {p.scheduler}" if p.scheduler else f"{threads} threads"
    console.note(
        f"sweep: {len(p.grid)} runs ({_shape(p.grid)}) in {len(bounds)} chunk{plural} of up "
        f"to {p.chunk_size}, {where} -> {p.path}"
    )
    return [(k, a, b) for k, (a, b) in enumerate(bounds) if k not in done]


def _train_chunks(
    store: Store, p: Plan, todo: list[tuple[int, int, int]], threads: int, console: _Console
) -> bool:
    """Train and commit the chunks in ``todo``; False if stopped early by Ctrl-C.

    Chunks go through :func:`fastdepth.distributed.run_chunks`: trained in this process
    one after another, or with ``--scheduler`` by Dask workers, committed here either way.
    """
    runs = p.grid.runs()
    cost = [_cost(r) for r in runs]
    todo_cost = sum(sum(cost[a:b]) for _, a, b in todo)
    n_todo = sum(b - a for _, a, b in todo)
    with _GracefulStop(console) as stop, contextlib.ExitStack() as stack:
        local = p.scheduler is None or distributed.parse_scheduler(p.scheduler)[0] == "local"
        if local:  # workers on this machine then load the trainer from Numba's disk cache
            _warm_up(p.grid, console)
        if p.scheduler is None:
            backend: Any = distributed.InProcess()
        else:
            console.note(f"connecting to Dask ({p.scheduler})...")
            backend = stack.enter_context(distributed.dask_client(p.scheduler, p.threads))
            console.note(f"dask: {backend.client}")
        progress = _Progress(console, len(runs), len(runs) - n_todo, sum(cost),
                             sum(cost) - todo_cost)  # fmt: skip

        def committed(parts: distributed.ChunkParts) -> None:
            a = parts.start
            progress.update(parts.n_runs, sum(cost[a : a + parts.n_runs]))

        try:
            return distributed.run_chunks(
                store, runs, todo, backend, threads=p.threads, on_chunk=committed,
                stop=lambda: stop.requested, note=console.note,
            )  # fmt: skip
        finally:
            progress.close()


def _run(p: Plan, args: argparse.Namespace, argv: Sequence[str], t_start: float) -> int:
    import numba

    console = _Console(args.quiet)
    store = Store(p.path)
    threads = p.threads or numba.get_num_threads()
    if p.scheduler is not None:  # per chunk on the workers (0: each worker decides)
        threads = distributed.planned_threads(p.scheduler, p.threads) or 0
    command = [PROG, *argv]
    p.path.mkdir(parents=True, exist_ok=True)
    lock = store.lock()
    try:
        lock.acquire()
    except StoreLockedError as e:
        _err(str(e))
        return 2
    try:
        if lock.stale is not None:
            console.note(
                f"note: took over the stale lock of {p.path} (pid {lock.stale.get('pid')} "
                f"on {lock.stale.get('host')} is no longer running)"
            )
        todo = _prepare(store, p, threads, command, console)
        if todo and not _train_chunks(store, p, todo, threads, console):
            return _interrupted(store, p, console, 130)
        table = summary_table(load(p.path, timing=False))
        write_summary(table, p.path)
        wall = time.perf_counter() - t_start
        trained = sum(b - a for _, a, b in todo)
        if args.quiet:
            print(p.path)
        else:
            print(format_text(table))
            print()
            print(f"store: {p.path}   (fastdepth.load({str(p.path)!r}); summary.csv, summary.md)")
            print(
                f"wall time: {wall:.1f} s ({_hms(wall)}); {trained} runs trained in this "
                f"session{'' if trained else ' (all chunks were already done)'}"
            )
        sys.stdout.flush()
        return _report(p.path, console) if args.report else 0
    except (UsageError, GridMismatchError) as e:
        _err(str(e))
        return 2
    except (KeyboardInterrupt, _Interrupted) as e:
        return _interrupted(store, p, console, e.code if isinstance(e, _Interrupted) else 130)
    except Exception:
        if store.exists():  # finished chunks are safe: say how to continue, then the traceback
            console.note(f"the sweep failed; to continue after fixing the cause: "
                         f"{_resume_hint(p)}", force=True)  # fmt: skip
        raise
    finally:
        lock.release()


def _interrupted(store: Store, p: Plan, console: _Console, code: int) -> int:
    n_chunks = len(store.chunks())
    done = store.done_chunks()
    console.note(
        f"interrupted: {len(done)}/{n_chunks} chunks are saved in {p.path}; resume with\n"
        f"  {_resume_hint(p)}",
        force=True,
    )
    return code


def _report(path: Path, console: _Console) -> int:
    try:
        from . import report  # written separately; optional
    except ImportError as e:
        console.note(f"--report: fastdepth.report is not available ({e}); skipped", force=True)
        return 0
    # --quiet: the report prints only its report.md path (no line per figure)
    rc = report.main([str(path), *(["--quiet"] if console.quiet else [])])
    return int(rc or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep command line; returns the exit code (see the module docstring)."""
    t_start = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = make_parser().parse_args(argv)
        p = plan(args)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except (UsageError, ConfigError, StoreError) as e:
        _err(str(e))
        return 2
    if args.dry_run:
        print(_dry_run(p))
        return 0
    return _run(p, args, argv, t_start)


if __name__ == "__main__":
    sys.exit(main())
