"""What a sweep shows while it runs, and how it stops: notes, progress with an ETA, signals.

Notes and progress go to stderr (a tqdm bar on a terminal, plain lines otherwise), so
stdout holds only results. The first Ctrl-C finishes the chunk in flight, the second or
a SIGTERM aborts it; either way every committed chunk stays and the store resumes.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from typing import Any

from fastdepth.config import RunConfig

__all__ = [
    "ETA_LAYER_STEP_FLOPS",
    "Console",
    "GracefulStop",
    "Interrupted",
    "Progress",
    "eta_cost",
    "fmt_bytes",
    "hms",
]

# FLOP-equivalents of the fixed work per (sample, step, layer) of training (activations,
# loop and telemetry overhead), fitted on the default study's chunk times; see eta_cost.
ETA_LAYER_STEP_FLOPS = 1800.0
# Plain progress lines (no terminal) at most this often.
LINE_INTERVAL = 10.0


def hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


class Console:
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


def eta_cost(run: RunConfig) -> float:
    """Relative training time of a run, for the ETA: FLOPs plus a per-layer-step overhead.

    Measured on the default study (2 cores): chunk time ~ FLOPs / 68 GFLOP/s + 27 ns per
    (sample, step, layer). FLOPs alone overrate deep nets against shallow ones ~3x, and run
    counts underrate them; chunks in grid order go from shallow to deep, so either would
    make the first ETAs wrong by minutes.
    """
    return float(run.flops()) + ETA_LAYER_STEP_FLOPS * run.n_train * run.epochs * (run.depth + 1)


class Progress:
    """Runs done / total, runs per second and an ETA weighted by each run's cost.

    The ETA divides the remaining cost (:func:`eta_cost`) by this session's cost rate: chunks
    of deep nets take far longer than chunks of shallow ones.
    """

    def __init__(self, console: Console, total: int, done: int, cost_total: float,
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
            bar.postfix = f"ETA {hms(self.eta())}"
            bar.update(runs)
        elif self.mode == "lines":
            now = time.perf_counter()
            if now - self.last_line >= LINE_INTERVAL or self.done >= self.total:
                self.last_line = now
                rate = self.session_runs / max(self.elapsed, 1e-9)
                pct = 100.0 * self.done / max(self.total, 1)
                self.console.note(
                    f"sweep: {self.done}/{self.total} runs ({pct:.0f}%), {rate:.1f} runs/s, "
                    f"elapsed {hms(self.elapsed)}, ETA {hms(self.eta())}"
                )

    def close(self) -> None:
        if self.console.bar is not None:
            self.console.bar.close()
            self.console.bar = None


class Interrupted(Exception):
    """Raised by the signal handlers to abort the current chunk."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class GracefulStop:
    """First Ctrl-C: finish the current chunk, then stop. Second Ctrl-C or SIGTERM: abort.

    A chunk in compiled code cannot be interrupted anyway (Python handles signals when
    the kernel returns); letting it finish and be written saves its work.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.requested = False
        self._old: dict[int, Any] = {}

    def _on_int(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise Interrupted(130)
        self.requested = True
        self.console.note(
            "Ctrl-C: stopping after the current chunk (Ctrl-C again to abandon it)", force=True
        )

    def _on_term(self, signum: int, frame: Any) -> None:
        raise Interrupted(128 + signal.SIGTERM)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._old[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_int)
            self._old[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._on_term)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
