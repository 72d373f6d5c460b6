"""Training gives the same bits on the generic x86-64 target as on this CPU's widest vectors.

The vector kernels are written with wide IR vectors that the backend splits into
whatever registers the CPU has (zmm, ymm or xmm), and every lane is the same chain of
single-rounding FMAs, so the target must not change a bit. ``NUMBA_CPU_NAME=generic``
compiles for baseline x86-64 (SSE2 only, no FMA instructions: ``llvm.fma`` becomes a
library call), the far end from an AVX-512 host.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import fastdepth as fd

RUNS = [
    dict(dataset="spirals", depth=3, width=12, activation="relu", init="he", epochs=30,
         eval_every=7, seed=1),
    dict(dataset="circle", depth=5, width=16, residual=True, residual_block=2, activation="tanh",
         epochs=25, dtype="float32", optimizer="adam", lr=0.01, batch_size=64, seed=3),
    dict(dataset="rings", depth=2, widths=(5, 17), activation="gelu", epochs=20, seed=6),
]  # fmt: skip
CODE = """
import sys, numpy as np, fastdepth as fd
runs = fd.train_many([fd.RunConfig(**r) for r in {runs!r}], threads=2)
np.save(sys.argv[1], np.concatenate([np.concatenate([r.curves.to_numpy(dtype=float).ravel(),
        *[a.astype(float).ravel() for W, b in r.final_params for a in (W, b)]]) for r in runs]))
"""


def _bits(runs) -> np.ndarray:
    return np.concatenate([np.concatenate([r.curves.to_numpy(dtype=float).ravel(),
                           *[a.astype(float).ravel() for W, b in r.final_params for a in (W, b)]])
                           for r in runs])  # fmt: skip


def test_generic_cpu_gives_the_bits_of_this_cpu(tmp_path):
    here = _bits(fd.train_many([fd.RunConfig(**r) for r in RUNS], threads=2))
    env = {**os.environ, "NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path / "c")}
    env.pop("NUMBA_CPU_FEATURES", None)
    path = tmp_path / "generic.npy"
    subprocess.run([sys.executable, "-c", CODE.format(runs=RUNS), str(path)], env=env, check=True)
    generic = np.load(path)
    assert np.isfinite(here).any() and here.size > 1000
    assert here.tobytes() == generic.tobytes()
