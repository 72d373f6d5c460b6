"""This machine's FMA roof, and throughputs as a share of it.

``python -m bench.roof`` prints the CPU and its roof (float64 and float32, 1 thread and
all cores). The roof is the best rate over a few short timings of
:mod:`fastdepth.kernels.roof` (register-only vector FMAs, 8 and 12 independent chains,
the widest vector the CPU's flags name), each thread running the kernel on its own
accumulators: a peak, so the best and not the median. A workload figure above it means
its FLOP count is wrong, not that it is fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from fastdepth.kernels import roof as _roof


@dataclass(frozen=True)
class Roof:
    """Peak FMA rates in GFLOP/s, keyed by ``(dtype name, threads)``."""

    cpu: str
    vector_bytes: int
    gflops: dict

    def share(self, gflops: float, dtype: str = "float64", threads: int = 1) -> float:
        """``gflops`` as a fraction of the roof for ``dtype`` on ``threads`` threads."""
        return gflops / self.gflops[(dtype, threads)]

    def describe(self) -> str:
        """One line: the CPU, its vector width and the four roofs."""
        parts = [f"{dt} {t} thread{'s' if t > 1 else ''} {g:.1f}"
                 for (dt, t), g in sorted(self.gflops.items())]  # fmt: skip
        return (f"{self.cpu}, {8 * self.vector_bytes}-bit vectors; FMA roof (GFLOP/s): "
                + ", ".join(parts))  # fmt: skip


def cpu_label() -> str:
    """The CPU's model name and its widest vector extension (``avx512f``, ``avx2``, ...)."""
    name, flags = _roof.cpu_info()
    ext = next((f for f in ("avx512f", "avx2", "avx", "sse2") if f in flags), "no SIMD flag")
    return f"{name} ({ext}{', fma' if 'fma' in flags else ''})"


def _rate(dtype, threads: int, nbytes: int, seconds: float, repeats: int, pool) -> float:
    best = 0.0
    for chains in _roof.CHAINS:
        kernel = _roof.roof_kernel(chains, nbytes)
        bufs = [_roof.roof_buffer(chains, nbytes, dtype) for _ in range(threads)]
        kernel(bufs[0], 1000)  # compile
        # size the call to about `seconds` from a short probe
        probe = 2_000_000
        t = time.perf_counter()
        kernel(bufs[0], probe)
        iters = max(probe, int(probe * seconds / max(time.perf_counter() - t, 1e-6)))
        flops = threads * _roof.roof_flops(iters, chains, nbytes, np.dtype(dtype).itemsize)
        for _ in range(repeats):
            t = time.perf_counter()
            list(pool.map(lambda A, k=kernel, n=iters: k(A, n), bufs))
            best = max(best, flops / (time.perf_counter() - t) / 1e9)
    return best


def measure(threads=None, seconds: float = 0.2, repeats: int = 3) -> Roof:
    """Measure the roof for float64 and float32 on 1 thread and on ``threads`` (all cores).

    Parameters
    ----------
    threads : int, optional
        The "all cores" thread count; Numba's ``NUMBA_NUM_THREADS`` by default.
    seconds : float
        Length of one timed call per thread.
    repeats : int
        Timed calls per kernel; the best is kept.
    """
    threads = int(threads or numba.config.NUMBA_NUM_THREADS)
    nbytes = _roof.widest_vector_bytes()
    gflops = {}
    with ThreadPoolExecutor(threads) as pool:
        for dt in ("float64", "float32"):
            for t in sorted({1, threads}):
                gflops[(dt, t)] = _rate(dt, t, nbytes, seconds, repeats, pool)
    return Roof(cpu_label(), nbytes, gflops)


def merge(a: Roof, b: Roof) -> Roof:
    """The better of two measurements, key by key (a roof measured before and after)."""
    return Roof(a.cpu, a.vector_bytes, {k: max(a.gflops[k], b.gflops[k]) for k in a.gflops})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.2, help="length of one timed call")
    args = ap.parse_args(argv)
    print(measure(seconds=args.seconds).describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
