"""Whole-training benchmarks on the workloads of bench/workloads.py: compiled vs NumPy reference.

The README's performance table comes from ``python -m bench.report`` (same workloads,
one process, medians); these pytest-benchmark cases keep the comparison runnable in
``pytest bench`` and, in CI, check that each workload still trains correctly.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastdepth as fd
from bench.workloads import small_runs, w1_gflop, w1_runs


def _runs(kind: str, scale: str):
    if kind == "w1":
        return w1_runs(seeds=4 if scale == "full" else 1, steps=1000 if scale == "full" else 20)
    return small_runs(seeds=4 if scale == "full" else 1)[:: (1 if scale == "full" else 4)]


@pytest.mark.parametrize("kind", ["w1", "small"])
@pytest.mark.parametrize("backend", ["compiled", "reference"])
def test_train(benchmark, backend, kind, scale):
    runs = _runs(kind, scale)
    if backend == "reference" and scale == "full":
        runs = runs[::4]  # the NumPy loop is slow; GFLOP/s is per-FLOP anyway
    fd.train_many(runs[:1], backend=backend)  # compile / warm up
    benchmark.group = f"train {kind}"
    benchmark.extra_info["gflop"] = w1_gflop(runs)
    res = benchmark.pedantic(lambda: fd.train_many(runs, backend=backend), rounds=1, iterations=1)
    assert all(r.status == "ok" for r in res)
    # Training reduced the loss on every network: the benchmark measured real work.
    for r in res:
        loss = r.curves.loss.dropna().to_numpy()
        assert loss[-1] < loss[0] and np.isfinite(loss).all()


@pytest.mark.parametrize("flag", ["--repeats", "--seeds"])
def test_report_refuses_non_positive_counts(flag, capsys):
    from bench import report

    with pytest.raises(SystemExit) as exc:
        report.main([flag, "0"])
    assert exc.value.code == 2
    assert f"{flag}: expected an integer >= 1, got '0'" in capsys.readouterr().err
