"""Measure the README's performance table: ``python -m bench.report [--repeats 3]``.

Everything is measured side by side in one process, the workloads interleaved round by
round (medians of ``--repeats`` rounds), so ratios hold even on a noisy shared machine.
The NumPy reference trainer is timed on a slice of each workload (it is a plain Python
loop; its cost per network does not depend on how many networks there are) and compared
per FLOP.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numba

import fastdepth as fd
from bench.workloads import W1_DEPTHS, small_runs, w1_gflop, w1_runs
from fastdepth import engine
from fastdepth.config import cost


def _time(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _subprocess_seconds(code: str, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


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
        tp.append(_time(lambda: fd.train_many(w1, threads=threads), 1))
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
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=_positive_int, default=3,
                    help="timings per workload; the table shows medians (default: 3)")  # fmt: skip
    ap.add_argument("--seeds", type=_positive_int, default=50,
                    help="W1 seeds (default: 50, the full workload)")  # fmt: skip
    ap.add_argument("--only", choices=("sharpness",),
                    help="measure only this row (W1 with sharpness telemetry)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.only == "sharpness":
        print("| workload | wall time | vs W1 |\n|---|---:|---:|")
        for row in sharpness_rows(w1_runs(args.seeds), args.repeats):
            print("| {} | {} | {} |".format(*row))
        return 0
    rows = []
    cores = numba.config.NUMBA_NUM_THREADS

    w1 = w1_runs(args.seeds)
    w1_32 = w1_runs(args.seeds, "float32")
    tanh = w1_runs(args.seeds, activation="tanh")
    small = small_runs(50)
    g, gs = w1_gflop(w1), w1_gflop(small)
    for warm_up in (w1_runs(1, steps=3), w1_runs(1, steps=3, dtype="float32"),
                    w1_runs(1, steps=3, activation="tanh"), small[:2]):  # fmt: skip
        fd.train_many(warm_up)

    def trainer_only(threads: int) -> float:
        # The compiled trainer without the (serial) Python unpacking of results. A fresh
        # batch each time: training updates the packed parameters in place.
        return engine.run_batch(engine.pack_batch(w1), threads=threads)

    def per_depth() -> None:
        for d in W1_DEPTHS:
            fd.train_many([r for r in w1 if r.depth == d], threads=2)

    timed = {
        "w1_2": lambda: fd.train_many(w1, threads=2),
        "w1_1": lambda: fd.train_many(w1, threads=1),
        "k_2": lambda: trainer_only(2),
        "k_1": lambda: trainer_only(1),
        "w1_32": lambda: fd.train_many(w1_32, threads=2),
        "tanh": lambda: fd.train_many(tanh, threads=2),
        "per_depth": per_depth,
        "small": lambda: fd.train_many(small, threads=2),
    }
    # Round-robin, not one workload after another: on a shared machine the load drifts, and
    # interleaving makes every ratio compare timings taken close together.
    samples: dict[str, list[float]] = {k: [] for k in timed}
    for _ in range(args.repeats):
        for name, fn in timed.items():
            t = time.perf_counter()
            inner = fn()
            wall = time.perf_counter() - t
            samples[name].append(inner if name.startswith("k_") else wall)
    med = {k: statistics.median(v) for k, v in samples.items()}
    t2, t1, k2, k1, t32, tt = (med[k] for k in ("w1_2", "w1_1", "k_2", "k_1", "w1_32", "tanh"))
    ts = med["small"]
    rows.append(("W1 float64, 2 threads", f"{t2:.1f} s", f"{g / t2:.1f}"))
    rows.append(("W1 float64, 1 thread", f"{t1:.1f} s", f"{g / t1:.1f}"))
    rows.append(("W1 float32, 2 threads", f"{t32:.1f} s", f"{g / t32:.1f}"))
    rows.append(("W1 with tanh + Xavier, float64, 2 threads", f"{tt:.1f} s", f"{g / tt:.1f}"))
    rows.extend(sharpness_rows(w1, args.repeats))
    ref_slice = w1_runs(1)  # one network per depth
    tr = _time(lambda: fd.train_many(ref_slice, backend="reference"), 1)
    g_ref = w1_gflop(ref_slice) / tr
    rows.append(("W1 NumPy reference (1 seed per depth)", f"{tr:.1f} s", f"{g_ref:.2f}"))
    rows.append(("small (N=200, w8, d1-8, 2000 steps) x 50 seeds, 2 threads", f"{ts:.1f} s",
                 f"{gs / ts:.1f}"))  # fmt: skip
    small_ref = small_runs(1)
    tsr = _time(lambda: fd.train_many(small_ref, backend="reference"), 1)
    gs_ref = w1_gflop(small_ref) / tsr
    rows.append(("small, NumPy reference (1 seed per depth)", f"{tsr:.1f} s", f"{gs_ref:.2f}"))

    code = ("import time; t=time.perf_counter(); import fastdepth as fd; "
            "fd.train_many([fd.RunConfig(dataset='rings', depth=2, epochs=2)]); "
            "print(time.perf_counter()-t)")  # fmt: skip
    colds, warms = [], []
    for _ in range(3):  # a single compile is at the mercy of the neighbours' load
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            colds.append(_subprocess_seconds(code, env))
            warms.append(_subprocess_seconds(code, env))
    cold, warm = statistics.median(colds), statistics.median(warms)

    print(f"fastdepth {fd.__version__}, numba {numba.__version__}, {cores} cores, "
          f"W1 = {g:.1f} GFLOP, medians of {args.repeats}\n")  # fmt: skip
    print("| workload | wall time | GFLOP/s |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print()
    print(f"- speed-up 1 -> 2 threads on W1: {t1 / t2:.2f}x "
          f"(the compiled trainer alone: {k1 / k2:.2f}x, {k2:.1f} s / {k1:.1f} s)")  # fmt: skip
    print(f"- float32 / float64 throughput: {t2 / t32:.2f}x")
    print(f"- compiled / NumPy reference, W1 (2 threads): {g / t2 / g_ref:.1f}x")
    print(f"- compiled / NumPy reference, small problems (2 threads): {gs / ts / gs_ref:.1f}x")
    print("- W1 as one mixed batch vs the sum of its 5 per-depth batches: "
          f"{t2 / med['per_depth']:.3f}")  # fmt: skip
    print(f"- W1 with tanh vs with ReLU (time): {tt / t2:.2f}x")
    print(f"- cold start (import + compile + first run, empty cache): {cold:.1f} s "
          f"(median of {', '.join(f'{c:.1f}' for c in colds)})")  # fmt: skip
    print(f"- warm start (new process, cached kernels, first run done): {warm:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
