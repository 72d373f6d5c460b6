"""First use compiles the trainer's kernels on several processes (kernels/precompile.py).

The table of kernels and argument types must be what the trainer asks for, or the
trainer compiles them again itself (slow, silently); the parallel compile must not change
a bit; and a warm start must not spawn anything.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from fastdepth.kernels import precompile

import fastdepth as fd

RUNS = [
    dict(dataset="spirals", depth=3, width=12, activation="relu", epochs=30, eval_every=7),
    dict(dataset="circle", depth=4, width=16, activation="tanh", epochs=20, dtype="float32",
         optimizer="adam", lr=0.01, batch_size=64, seed=3),
    dict(dataset="rings", depth=2, widths=(5, 17), activation="gelu", epochs=20, seed=6,
         optimizer="momentum"),
]  # fmt: skip

# In a fresh process on an empty cache: compile the kernels of both dtypes as a first use
# does, then train; report which fastdepth kernels the trainer's compile still compiled
# (a cache miss) instead of loading, and the results' bits.
CODE = """
import json, sys, numpy as np, fastdepth as fd
from numba.core.registry import CPUDispatcher
from fastdepth.kernels import precompile

def misses():
    return {d.py_func.__module__ + "." + d.py_func.__qualname__: sum(d.stats.cache_misses.values())
            for m, mod in list(sys.modules.items()) if m.startswith("fastdepth.kernels")
            for d in vars(mod).values() if isinstance(d, CPUDispatcher)}

kinds = [("float64", False), ("float32", False), ("float64", True)]
used = {precompile.table_key(*k): precompile.compile_in_parallel(*k) for k in kinds}
for k in kinds:
    if used[precompile.table_key(*k)] == 1:  # one core here: the same table, all here
        precompile.compile_part(k[0], 0, 1, k[1])
before = misses()
runs = fd.train_many([fd.RunConfig(**r) for r in RUNS], threads=1)
runs += fd.train_many([fd.RunConfig(**SHARP)], threads=1)  # the curvature trainer
missed = sorted(k for k, v in misses().items() if v > before.get(k, 0))
bits = np.concatenate([np.concatenate([r.curves.to_numpy(dtype=float).ravel(),
        *[a.astype(float).ravel() for W, b in r.final_params for a in (W, b)]]) for r in runs])
np.save(sys.argv[1], bits)
print(json.dumps({"used": used, "missed": missed,
                  "after": {precompile.table_key(*k): precompile.processes(*k) for k in kinds}}))
"""
SHARP = dict(dataset="moons", depth=2, width=6, epochs=12, sharpness_every=5, sharpness_k=2)


def _bits(runs) -> np.ndarray:
    return np.concatenate([np.concatenate([r.curves.to_numpy(dtype=float).ravel(),
                           *[a.astype(float).ravel() for W, b in r.final_params for a in (W, b)]])
                           for r in runs])  # fmt: skip


def test_first_use_loads_every_kernel_the_table_names_and_keeps_the_bits(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    path = tmp_path / "bits.npy"
    out = subprocess.run([sys.executable, "-c", f"RUNS = {RUNS!r}\nSHARP = {SHARP!r}\n" + CODE,
                          str(path)],
                         env=env, check=True, capture_output=True, text=True).stdout  # fmt: skip
    report = json.loads(out.strip().splitlines()[-1])
    # Only the trainers themselves compiled: everything they call came from the cache. A
    # kernel listed here has changed its argument types: re-record the table with
    # ``python -m fastdepth.kernels.precompile --write``.
    assert report["missed"] == [
        "fastdepth.kernels.trainer.train_batch_flat",
        "fastdepth.kernels.trainer.train_batch_flat_curvature",
    ], report
    # A warm start spawns nothing.
    assert report["after"] == {"float64": 1, "float32": 1, "float64 curvature": 1}
    here = _bits(fd.train_many([fd.RunConfig(**r) for r in RUNS], threads=1)
                 + fd.train_many([fd.RunConfig(**SHARP)], threads=1))  # fmt: skip
    assert here.size > 1000 and np.isfinite(here).any()
    assert here.tobytes() == np.load(path).tobytes()


def test_a_worker_compiles_its_share_into_the_cache(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "fastdepth.kernels.precompile", "--dtype", "float64"]
    subprocess.run([*cmd, "--part", "1", "--parts", "2"], env=env, check=True)
    parts = precompile.plan("float64", 2)
    check = (
        "import json, fastdepth.kernels.precompile as p, fastdepth.kernels._compat as c\n"
        "parts = p.plan('float64', 2)\n"
        "print(json.dumps([[c.in_disk_cache(d, s) for d, s in part] for part in parts]))\n"
    )
    out = subprocess.run([sys.executable, "-c", check], env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    cached = json.loads(out.strip().splitlines()[-1])
    assert parts[1] and all(cached[1])
    cached = [c for part in cached for c in part]
    # what part 1 compiled on the way (shared callees) aside, part 0's own kernels are not
    # there: the worker did its share, not everything
    assert not all(cached), "the worker compiled every kernel, not its share"


@pytest.mark.parametrize("enabled", [True, False])
def test_compiles_pause_the_collector_and_restore_it(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with precompile.paused_gc():
            assert not gc.isenabled()
        assert gc.isenabled() == enabled
        with pytest.raises(RuntimeError), precompile.paused_gc():
            raise RuntimeError("a compile error")
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_bad_part_is_refused_with_the_range():
    r = subprocess.run([sys.executable, "-m", "fastdepth.kernels.precompile", "--part", "3",
                        "--parts", "2"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "--part must be in 0..1" in r.stderr


def test_assign_balances_longest_first():
    parts = precompile.assign([5.0, 1.0, 4.0, 2.0, 2.0], 2)
    assert sorted(i for p in parts for i in p) == [0, 1, 2, 3, 4]
    loads = [sum([5.0, 1.0, 4.0, 2.0, 2.0][i] for i in p) for p in parts]
    assert loads == [7.0, 7.0]
    assert precompile.assign([1.0], 3) == [[0], [], []]
    assert precompile.assign([3.0, 1.0], 2, start=(0.0, 4.5)) == [[0, 1], []]
    assert precompile.assign([3.0, 1.0], 2, start=(0.0, 2.5)) == [[0], [1]]
    assert precompile.assign([1.0, 5.0], 2) == [[1], [0]]
    assert precompile.assign([1.0, 5.0], 2, longest_first=False) == [[0], [1]]


@pytest.mark.parametrize("curvature", [False, True])
def test_plan_compiles_every_kernel_once_callees_first_in_their_order(curvature):
    for dt in ("float64", "float32"):
        callees = [(d, s) for d, s, _ in precompile.callees(dt, curvature)]
        leaves = [(d, s) for d, s, _ in precompile.leaves(dt, curvature)]
        assert {d.py_func.__name__ for d, _ in callees} >= {"affine", "_lanes8", "grad_norm"}
        for n in (1, 2, 3):
            parts = precompile.plan(dt, n, curvature)
            flat = [job for part in parts for job in part]
            assert sorted(map(repr, flat)) == sorted(map(repr, callees + leaves))
            for part in parts:
                kinds = [job in callees for job in part]
                assert kinds == sorted(kinds, reverse=True), "a leaf before a callee"
                mine = [job for job in part if job in callees]
                assert mine == [job for job in callees if job in mine]
            # a worker starts later: the calling process takes the first (longest) callee
            assert n == 1 or parts[0][0] == callees[0]


@pytest.mark.parametrize("curvature", [False, True])
def test_table_spells_types_that_read_back(curvature):
    for dt in ("float64", "float32"):
        jobs = precompile.leaves(dt, curvature)
        names = {d.py_func.__name__ for d, _, _ in jobs}
        assert {"forward_flat", "backward_flat", "loss_flat", "optimizer_step"} <= names
        assert ("top_eigen_flat" in names) == curvature
        for _, sig, seconds in jobs + precompile.callees(dt, curvature):
            assert sig and seconds >= 0
