"""Measure the performance table of docs/performance.md: ``python -m bench.report [--repeats 3]``.

Everything is measured side by side in one process, the workloads interleaved round by
round (medians of ``--repeats`` rounds), so ratios hold even on a noisy shared machine.
Every throughput is also printed as a share of this machine's FMA roof
(:mod:`bench.roof`, measured before and after the rounds, the better kept) for the row's
dtype and thread count. The NumPy reference trainer is timed once on a slice of each
workload (it is a plain Python loop; its cost per network does not depend on how many
networks there are) and compared per FLOP.

A row of the table is a :class:`Row` in the list :func:`rows` returns: to add a workload,
append one there (and, if the notes below the table should mention it, a line in
:func:`notes`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba

import fastdepth as fd
from bench import roof as _roof
from bench.workloads import W1_DEPTHS, small_runs, w1_gflop, w1_runs
from fastdepth import engine
from fastdepth.config import cost


@dataclass(frozen=True)
class Row:
    """One line of the table.

    ``run()`` trains once and returns ``None`` (the wall time is taken) or its own inner
    time in seconds. ``once`` rows (the NumPy reference) run one time, after the rounds;
    ``table=False`` rows are timed for the notes only. ``warm_up`` compiles what ``run``
    needs before anything is timed.
    """

    key: str
    label: str
    run: Callable[[], float | None]
    gflop: float
    dtype: str = "float64"
    threads: int = 2
    once: bool = False
    table: bool = True
    warm_up: Callable[[], object] | None = None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def rows(seeds: int, cores: int) -> list[Row]:
    """The table's workloads (W1 with ``seeds`` seeds per depth) in measuring order."""
    w1 = w1_runs(seeds)
    w1_32 = w1_runs(seeds, "float32")
    tanh = w1_runs(seeds, activation="tanh")
    small = small_runs(50)
    g, gs = w1_gflop(w1), w1_gflop(small)
    ref_slice, small_ref = w1_runs(1), small_runs(1)  # one network per depth

    def trainer_only(threads: int) -> float:
        # The compiled trainer without the (serial) Python unpacking of results. A fresh
        # batch each time: training updates the packed parameters in place.
        return engine.run_batch(engine.pack_batch(w1), threads=threads)

    def per_depth() -> None:
        for d in W1_DEPTHS:
            fd.train_many([r for r in w1 if r.depth == d], threads=cores)

    def train(runs, threads=cores, backend="compiled"):
        return lambda: (fd.train_many(runs, threads=threads, backend=backend), None)[1]

    def warm(dtype="float64", activation="relu"):
        return train(w1_runs(1, steps=3, dtype=dtype, activation=activation))

    t = f"{cores} threads"
    return [
        Row("w1", f"W1 float64, {t}", train(w1), g, threads=cores, warm_up=warm()),
        Row("w1_1", "W1 float64, 1 thread", train(w1, 1), g, threads=1),
        Row("k", f"W1 trainer alone, {t}", lambda: trainer_only(cores), g, threads=cores,
            table=False),  # fmt: skip
        Row("k_1", "W1 trainer alone, 1 thread", lambda: trainer_only(1), g, threads=1,
            table=False),  # fmt: skip
        Row("w1_32", f"W1 float32, {t}", train(w1_32), g, "float32", cores,
            warm_up=warm("float32")),  # fmt: skip
        Row("w1_32_1", "W1 float32, 1 thread", train(w1_32, 1), g, "float32", 1),
        Row("tanh", f"W1 with tanh + Xavier, float64, {t}", train(tanh), g, threads=cores,
            warm_up=warm(activation="tanh")),  # fmt: skip
        Row("per_depth", "W1 as 5 per-depth batches", per_depth, g, threads=cores, table=False),
        Row("small", f"small (N=200, w8, d1-8, 2000 steps) x 50 seeds, {t}", train(small), gs,
            threads=cores, warm_up=train(small[:2])),  # fmt: skip
        Row("ref", "W1 NumPy reference (1 seed per depth)", train(ref_slice, 1, "reference"),
            w1_gflop(ref_slice), threads=1, once=True),  # fmt: skip
        Row("small_ref", "small, NumPy reference (1 seed per depth)",
            train(small_ref, 1, "reference"), w1_gflop(small_ref), threads=1, once=True),
    ]  # fmt: skip


def measure(table: list[Row], repeats: int) -> dict[str, float]:
    """Median seconds per row key: the rounds interleaved, then the ``once`` rows."""
    for r in table:
        if r.warm_up is not None:
            r.warm_up()
    # Round-robin, not one workload after another: on a shared machine the load drifts, and
    # interleaving makes every ratio compare timings taken close together.
    samples: dict[str, list[float]] = {r.key: [] for r in table}
    for rnd in range(repeats):
        for r in table:
            if r.once and rnd > 0:
                continue
            t = time.perf_counter()
            inner = r.run()
            samples[r.key].append(time.perf_counter() - t if inner is None else inner)
    return {k: statistics.median(v) for k, v in samples.items()}


def _subprocess_seconds(code: str, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def start_times(n: int = 3) -> tuple[list[float], list[float]]:
    """Cold (empty Numba cache) and warm start of a tiny ``train_many``, ``n`` of each."""
    code = ("import time; t=time.perf_counter(); import fastdepth as fd; "
            "fd.train_many([fd.RunConfig(dataset='rings', depth=2, epochs=2)]); "
            "print(time.perf_counter()-t)")  # fmt: skip
    colds, warms = [], []
    for _ in range(n):  # a single compile is at the mercy of the neighbours' load
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            colds.append(_subprocess_seconds(code, env))
            warms.append(_subprocess_seconds(code, env))
    return colds, warms


def format_table(table: list[Row], med: dict[str, float], roof: _roof.Roof) -> list[str]:
    """Markdown lines: workload, wall time, GFLOP/s and share of the roof."""
    out = ["| workload | wall time | GFLOP/s | share of roof |", "|---|---:|---:|---:|"]
    for r in table:
        if not r.table:
            continue
        rate = r.gflop / med[r.key]
        share = roof.share(rate, r.dtype, r.threads)
        out.append(f"| {r.label} | {med[r.key]:.1f} s | {rate:.1f} | {100 * share:.1f}% |")
    return out


def notes(med: dict[str, float], table: list[Row]) -> list[str]:
    """The ratios below the table."""
    g = {r.key: r.gflop for r in table}
    rate = {k: g[k] / med[k] for k in med}
    return [
        f"- speed-up 1 -> all threads on W1: {med['w1_1'] / med['w1']:.2f}x (the compiled "
        f"trainer alone: {med['k_1'] / med['k']:.2f}x, {med['k']:.1f} s / {med['k_1']:.1f} s)",
        f"- float32 / float64 throughput: {med['w1'] / med['w1_32']:.2f}x",
        f"- compiled / NumPy reference, W1: {rate['w1'] / rate['ref']:.1f}x",
        f"- compiled / NumPy reference, small problems: {rate['small'] / rate['small_ref']:.1f}x",
        f"- W1 as one mixed batch vs the sum of its 5 per-depth batches: "
        f"{med['w1'] / med['per_depth']:.3f}",
        f"- W1 with tanh vs with ReLU (time): {med['tanh'] / med['w1']:.2f}x",
    ]  # fmt: skip


def sharpness_rows(w1: list, repeats: int, threads: int = 2) -> list[tuple[str, str, str]]:
    """W1 with the sharpness measured every 50 steps (a budget of 20 Lanczos steps), with
    tol 0 (the whole budget spent: the worst case) and with the default tol (the cost a run
    pays by default; the measurements after the first are warm-started, docs/curvature.md),
    timed interleaved with plain W1: the table rows, with their time ratio to plain W1 in
    place of a GFLOP/s figure (the Lanczos work is not W1's FLOPs)."""
    tols = (0.0, fd.RunConfig().sharpness_tol)
    sharp = [[r.replace(sharpness_every=50, sharpness_iters=20, sharpness_tol=tol) for r in w1]
             for tol in tols]  # fmt: skip
    fd.train_many(sharp[0][:1] + w1[:1], threads=1)  # compile both paths before timing
    tp, ts, used = [], [[] for _ in tols], [0.0 for _ in tols]
    for _ in range(repeats):
        t = time.perf_counter()
        fd.train_many(w1, threads=threads)
        tp.append(time.perf_counter() - t)
        for i, runs in enumerate(sharp):
            t = time.perf_counter()
            res = fd.train_many(runs, threads=threads)
            ts[i].append(time.perf_counter() - t)
            its = [v for r in res for v in r.curves["lanczos_iterations"].dropna()]
            used[i] = statistics.fmean(its)
    plain = statistics.median(tp)
    rows = []
    for tol, runs, times, u in zip(tols, sharp, ts, used, strict=True):
        t = statistics.median(times)
        est = cost.estimate_seconds(runs, threads) / cost.estimate_seconds(w1, threads)
        rows.append((f"W1 + sharpness every 50 steps (tol {tol:g}: {u:.1f} of <= 20 Lanczos "
                     f"steps), {threads} threads", f"{t:.1f} s",
                     f"{t / plain:.2f}x W1 ({plain:.1f} s; estimate {est:.2f}x)"))  # fmt: skip
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=_positive_int, default=3,
                    help="timings per workload; the table shows medians (default: 3)")  # fmt: skip
    ap.add_argument("--seeds", type=_positive_int, default=50,
                    help="W1 seeds (default: 50, the full workload)")  # fmt: skip
    ap.add_argument("--no-start", action="store_true",
                    help="skip the cold / warm start measurement")  # fmt: skip
    ap.add_argument("--only", choices=("sharpness",),
                    help="measure only this row (W1 with sharpness telemetry)")  # fmt: skip
    args = ap.parse_args(argv)
    cores = numba.config.NUMBA_NUM_THREADS
    if args.only == "sharpness":
        print("| workload | wall time | vs W1 |\n|---|---:|---:|")
        for row in sharpness_rows(w1_runs(args.seeds), args.repeats, cores):
            print("| {} | {} | {} |".format(*row))
        return 0
    load0 = os.getloadavg()[0]
    roof = _roof.measure(cores)
    table = rows(args.seeds, cores)
    med = measure(table, args.repeats)
    roof = _roof.merge(roof, _roof.measure(cores))
    load1 = os.getloadavg()[0]

    print(f"fastdepth {fd.__version__}, numba {numba.__version__}, {cores} cores, "
          f"W1 = {table[0].gflop:.1f} GFLOP, medians of {args.repeats}; "
          f"load average {load0:.2f} before, {load1:.2f} after")  # fmt: skip
    print(roof.describe() + "\n")
    print("\n".join(format_table(table, med, roof)) + "\n")
    print("\n".join(notes(med, table)))
    print("\n| workload | wall time | vs W1 |\n|---|---:|---:|")
    for row in sharpness_rows(w1_runs(args.seeds), args.repeats, cores):
        print("| {} | {} | {} |".format(*row))
    if not args.no_start:
        colds, warms = start_times()
        print(f"- cold start (import + compile + first run, empty cache): "
              f"{statistics.median(colds):.1f} s "
              f"(median of {', '.join(f'{c:.1f}' for c in colds)})")  # fmt: skip
        print(f"- warm start (new process, cached kernels, first run done): "
              f"{statistics.median(warms):.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
