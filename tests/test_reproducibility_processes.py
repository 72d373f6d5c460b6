"""A run gives the same bits in a new process, compiled fresh or loaded from Numba's cache.

This once failed by one ulp in the total gradient norm: the ``contract`` fastmath flag
let the JIT-compiled and the cached object code fuse a reduction differently. Now no
code is compiled with ``contract`` and the micro-kernels call ``llvm.fma`` explicitly.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import fastdepth as fd

RUN = dict(dataset="rings", depth=3, width=8, epochs=400, n_train=200, n_test=50, log_every=7,
           eval_every=100, seed=3, optimizer="momentum", lr=0.02)  # fmt: skip
CODE = """
import sys, numpy as np, fastdepth as fd
r = fd.train(fd.RunConfig(**{run!r}))
np.save(sys.argv[1], np.concatenate([r.curves.to_numpy(dtype=float).ravel(),
        *[a.ravel() for W, b in r.final_params for a in (W, b)]]))
"""


def _in_subprocess(path, cache):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-c", CODE.format(run=RUN), str(path)], env=env, check=True)
    return np.load(path)


def test_fresh_compile_cached_code_and_this_process_agree_to_the_bit(tmp_path):
    r = fd.train(fd.RunConfig(**RUN))
    here = np.concatenate([r.curves.to_numpy(dtype=float).ravel(),
                           *[a.ravel() for W, b in r.final_params for a in (W, b)]])  # fmt: skip
    fresh = _in_subprocess(tmp_path / "fresh.npy", tmp_path / "cache")  # compiles
    cached = _in_subprocess(tmp_path / "cached.npy", tmp_path / "cache")  # loads the cache
    assert here.tobytes() == fresh.tobytes() == cached.tobytes()
