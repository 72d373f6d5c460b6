"""Fit the sweep's cost model on measured chunk times: ``python -m bench.eta_fit``.

The ETA of a sweep (``--dry-run`` and the progress bar, :mod:`fastdepth.config.cost`)
prices a run in FLOP-equivalents::

    cost = FLOPs + LAYER_STEP * n_train * epochs * n_layers
                 + Activation.cost * n_train * epochs * hidden_units

(FLOPs of the affine maps, :func:`fastdepth.kernels.layout.run_flops`; a fixed overhead per
layer and sample-step: loops, loss, norms, telemetry; the activation and its derivative
per hidden unit and sample-step, which FLOPs leave out: a ReLU is a compare, a tanh ~40
operations) and turns cost into seconds at a rate per thread. This script times chunks of
every activation at several shapes, single-threaded, in CPU time (a shared machine's other
jobs then do not count), interleaved round by round (the minimum of ``--repeats`` rounds),
and fits the constants by least squares. It prints them and the relative error of the fitted model
against the flat 40 GFLOP/s estimate it replaced.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from fastdepth.kernels.vocab import ACTIVATIONS

import fastdepth as fd

SHAPES = (
    (1, 64, 500),
    (2, 4, 1000),
    (2, 48, 500),
    (3, 32, 500),
    (4, 8, 1000),
    (6, 16, 1000),
    (8, 16, 1000),
    (8, 4, 1000),
)
EPOCHS, SEEDS = 150, 4


def workloads(dtype: str = "float64") -> list[tuple[str, list[fd.RunConfig]]]:
    out = []
    for act in ACTIVATIONS:
        init = ACTIVATIONS.entry(act).init
        for depth, width, n in SHAPES:
            runs = [fd.RunConfig(dataset="spirals", n_train=n, n_test=n, depth=depth, width=width,
                                 activation=act, init=init, optimizer="adam", lr=0.003,
                                 epochs=EPOCHS, eval_every=50, dtype=dtype, seed=s)
                    for s in range(SEEDS)]  # fmt: skip
            out.append((act, runs))
    return out


def regressors(act: str, runs: list[fd.RunConfig]) -> dict[str, float]:
    """The model's terms summed over a chunk: FLOPs, layer-steps, unit-steps."""
    flops = sum(r.flops() for r in runs)
    layer = sum(r.n_train * r.epochs * (r.depth + 1) for r in runs)
    unit = sum(r.n_train * r.epochs * sum(r.hidden_widths) for r in runs)
    return {"flops": flops, "layer": layer, "unit": unit}


def measure(repeats: int, dtype: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    loads = workloads(dtype)
    fd.train_many(loads[0][1][:1], threads=1, progress=False)  # compile first
    best = np.full(len(loads), np.inf)
    for rnd in range(repeats):
        for i, (_, runs) in enumerate(loads):
            # CPU time of the process, one trainer thread: what the chunk costs a core of its
            # own, whatever else runs on this shared machine (wall time counts the others)
            t = time.process_time()
            fd.train_many(runs, threads=1, progress=False)
            best[i] = min(best[i], time.process_time() - t)
        print(f"round {rnd + 1}/{repeats} done", flush=True)
    acts = [a for a, _ in loads]
    X = np.array([[regressors(a, r)[k] for k in ("flops", "layer", "unit")] for a, r in loads])
    return acts, X, best


def fit(acts: list[str], X: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """Least squares, relative errors (each chunk weighs the same whatever its length)."""
    names = list(dict.fromkeys(acts))
    cols = [X[:, 0], X[:, 1]] + [np.where(np.array(acts) == a, X[:, 2], 0.0) for a in names]
    A = np.column_stack(cols) / t[:, None]
    coef, *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    per_flop = coef[0]  # seconds per FLOP-equivalent at one thread
    out = {"gflops_1_thread": 1e-9 / per_flop, "layer_step": coef[1] / per_flop}
    out.update({a: c / per_flop for a, c in zip(names, coef[2:], strict=True)})
    return out


def predict(f: dict[str, float], acts: list[str], X: np.ndarray) -> np.ndarray:
    """Seconds the fitted model gives each chunk (one thread)."""
    per_unit = np.array([f[a] for a in acts])
    return (X[:, 0] + f["layer_step"] * X[:, 1] + per_unit * X[:, 2]) / (f["gflops_1_thread"] * 1e9)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    acts, X, t = measure(args.repeats, "float64")
    f = fit(acts, X, t)
    print(f"rate: {f['gflops_1_thread']:.1f} GFLOP-equivalents/s per thread")
    print(f"LAYER_STEP: {f['layer_step']:.0f} FLOP-equivalents per (sample, step, layer)")
    for a in dict.fromkeys(acts):
        print(f"  {a:<11} {f[a]:7.1f} FLOP-equivalents per (sample, step, hidden unit)")
    model = predict(f, acts, X)
    flat = X[:, 0] / 20e9  # the flat 40 GFLOP/s of two threads, for one thread
    for a in dict.fromkeys(acts):
        m = np.array(acts) == a
        print(f"  {a:<11} measured/model {np.median(t[m] / model[m]):.2f} "
              f"(range {np.min(t[m] / model[m]):.2f}-{np.max(t[m] / model[m]):.2f}); "
              f"measured/flat-40 {np.median(t[m] / flat[m]):.2f}")  # fmt: skip
    acts32, X32, t32 = measure(1, "float32")
    print(f"float32 / float64 model: median {np.median(t32 / predict(f, acts32, X32)):.2f}")


if __name__ == "__main__":
    main()
