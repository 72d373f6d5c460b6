"""Training gives the same bits on the generic x86-64 target as on this CPU's widest vectors.

The vector kernels are written with wide IR vectors that the backend splits into
whatever registers the CPU has (zmm, ymm or xmm), and every lane is the same chain of
single-rounding FMAs, so the target must not change a bit. ``NUMBA_CPU_NAME=generic``
compiles for baseline x86-64 (SSE2 only, no FMA instructions: ``llvm.fma`` becomes a
library call), the far end from an AVX-512 host. The block shapes of the kernels follow
the register file (``settings.BLOCKS``); the shapes of the other register file, forced
with ``FASTDEPTH_VECTOR_REGISTERS``, must give the same bits too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from fastdepth.kernels import settings

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


def _bits_in_a_process(tmp_path, **env_vars) -> np.ndarray:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "c"), **env_vars}
    for k in ("NUMBA_CPU_FEATURES", settings.REGISTERS_ENV):
        if k not in env_vars:
            env.pop(k, None)
    path = tmp_path / "bits.npy"
    subprocess.run([sys.executable, "-c", CODE.format(runs=RUNS), str(path)], env=env, check=True)
    return np.load(path)


def test_generic_cpu_gives_the_bits_of_this_cpu(tmp_path):
    here = _bits(fd.train_many([fd.RunConfig(**r) for r in RUNS], threads=2))
    generic = _bits_in_a_process(tmp_path, NUMBA_CPU_NAME="generic")
    assert np.isfinite(here).any() and here.size > 1000
    assert here.tobytes() == generic.tobytes()


def test_the_other_register_files_block_shapes_give_the_same_bits(tmp_path):
    # settings.BLOCKS sizes the kernels' blocks for 16 or 32 vector registers; run the
    # shapes this CPU does not use (compiled for this CPU: they only spill or idle)
    other = next(n for n in settings.BLOCKS if n != settings.VECTOR_REGISTERS)
    here = _bits(fd.train_many([fd.RunConfig(**r) for r in RUNS], threads=2))
    there = _bits_in_a_process(tmp_path, **{settings.REGISTERS_ENV: str(other)})
    assert here.tobytes() == there.tobytes()
