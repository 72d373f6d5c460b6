"""The machine's FMA roof, measured with fastdepth's own vector FMA.

Every GFLOP/s figure in ``bench/`` is printed as a share of this roof: the rate at which
this CPU retires ``llvm.fma`` on the widest vector it has, with enough independent
chains to hide the FMA latency, and nothing else in the loop (no loads, no stores).

The kernel keeps ``chains`` vector accumulators in registers and runs, ``iters`` times,
``acc[k] = fma(acc[k], m, c)`` for every ``k``: each step of a chain depends on the one
before, the chains do not depend on each other, so with ``chains >= latency x FMA ports``
(4 x 2 = 8 on current x86 cores) every cycle retires as many vector FMAs as the core has
ports. A vector is ``nbytes`` wide (64: one zmm where AVX-512 exists; LLVM splits it
elsewhere, which is why :func:`widest_vector_bytes` picks the width from the CPU's
flags). It is the same explicit-IR route as the affine micro-kernels (``_vec.py``):
LLVM's ``prefer-256-bit`` tuning does not apply to an explicit wide vector type.

``A`` holds the accumulators (``chains x lanes`` values) followed by ``m`` and ``c``;
the accumulators are read at the start and written back at the end, so nothing can be
optimised away. With ``m = 0.5`` and ``c = 1`` every chain converges to 2 without ever
leaving the normal range (a subnormal operand would slow some CPUs down).

FLOPs: one FMA is two, so one call does :func:`roof_flops` ``= 2 iters chains lanes``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from ._compat import for_range, load, load_at, stack_slot, store, store_at
from ._compat import vector_intrinsic as _intrinsic
from ._jit import njit
from ._vec import _fma, _splat, itemsize

ROOF_PARAMS = ("A", "iters")
ROOF_ARRAYS = ("A",)
# Chains per kernel: 8 is the minimum that hides a 4-cycle latency on 2 ports, 12 leaves
# slack for a longer latency; both fit the 32 zmm / 16 ymm registers with m and c.
CHAINS = (8, 12)
VECTOR_BYTES = (16, 32, 64)


def emit_roof(builder: ir.IRBuilder, fty: ir.Type, a: dict, chains: int, nbytes: int) -> None:
    """The body of a roof kernel; ``a`` maps :data:`ROOF_PARAMS` to values."""
    esize = itemsize(fty)
    lanes = nbytes // esize
    vty = ir.VectorType(fty, lanes)
    fma = _fma(builder, vty)
    A = a["A"]
    i64 = ir.IntType(64)
    m = _splat(builder, load_at(builder, fty, A, ir.Constant(i64, chains * lanes), esize), vty)
    c = _splat(builder, load_at(builder, fty, A, ir.Constant(i64, chains * lanes + 1), esize),
               vty)  # fmt: skip
    accs = [stack_slot(builder, vty) for _ in range(chains)]
    for k in range(chains):
        store(builder, load_at(builder, vty, A, ir.Constant(i64, k * lanes), esize), accs[k])
    with for_range(builder, a["iters"]):
        for k in range(chains):
            store(builder, builder.call(fma, [load(builder, vty, accs[k]), m, c]), accs[k])
    for k in range(chains):
        store_at(builder, load(builder, vty, accs[k]), A, ir.Constant(i64, k * lanes), esize)


def _make(chains: int, nbytes: int):
    def emit(builder, fty, a):
        emit_roof(builder, fty, a, chains, nbytes)

    return _intrinsic(f"vroof_c{chains}_b{nbytes}", ROOF_PARAMS, ROOF_ARRAYS, emit)


def _compile(chains: int, nbytes: int):
    kernel = _make(chains, nbytes)

    def run(A, iters):
        kernel(A, iters)

    run.__name__ = run.__qualname__ = f"roof_c{chains}_b{nbytes}"
    # Not cached: a few hundred ms to compile, and only the benchmarks call it.
    return njit(run, cache=False)


_KERNELS: dict[tuple[int, int], object] = {}


def roof_kernel(chains: int, nbytes: int):
    """The compiled ``run(A, iters)`` for ``chains`` accumulators of ``nbytes`` each."""
    if chains not in CHAINS or nbytes not in VECTOR_BYTES:
        raise ValueError(f"chains must be one of {CHAINS} and nbytes one of {VECTOR_BYTES}, "
                         f"got {chains} and {nbytes}")  # fmt: skip
    key = (chains, nbytes)
    if key not in _KERNELS:
        _KERNELS[key] = _compile(chains, nbytes)
    return _KERNELS[key]


def roof_buffer(chains: int, nbytes: int, dtype, m: float = 0.5, c: float = 1.0) -> np.ndarray:
    """A fresh ``A`` for :func:`roof_kernel`: accumulators 1, 2, ..., then ``m`` and ``c``.

    Returns
    -------
    ndarray, shape (chains * lanes + 2,), ``dtype`` (float32 or float64)
    """
    dtype = np.dtype(dtype)
    n = chains * (nbytes // dtype.itemsize)
    A = np.empty(n + 2, dtype)
    A[:n] = np.arange(1, n + 1)
    A[n], A[n + 1] = m, c
    return A


def roof(A: np.ndarray, iters: int, chains: int, nbytes: int) -> np.ndarray:
    """Run ``iters`` steps of ``acc = fma(acc, m, c)`` on every accumulator of ``A``, in place.

    Parameters
    ----------
    A : ndarray, shape (chains * nbytes / itemsize + 2,), float32 or float64
        Accumulators, then ``m`` and ``c`` (see :func:`roof_buffer`).
    iters : int
        Steps per chain, >= 0.
    chains, nbytes : int
        Independent accumulators and bytes per vector.

    Returns
    -------
    ndarray
        ``A`` itself.
    """
    lanes = nbytes // A.itemsize
    if A.ndim != 1 or A.shape[0] != chains * lanes + 2 or A.dtype not in (np.float32, np.float64):
        raise ValueError(f"A must be a float32/float64 vector of {chains} x {lanes} + 2 values")
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    roof_kernel(chains, nbytes)(A, int(iters))
    return A


def roof_reference(A: np.ndarray, iters: int) -> np.ndarray:
    """NumPy twin of :func:`roof` for the cases where ``acc * m`` is exact (``m`` a power of
    two), so that ``acc * m + c`` rounds once like the FMA; returns a new array."""
    out = A.copy()
    m, c = out[-2], out[-1]
    acc = out[:-2]
    for _ in range(iters):
        acc = acc * m + c
    out[:-2] = acc
    return out


def roof_flops(iters: int, chains: int, nbytes: int, itemsize: int) -> int:
    """FLOPs of one :func:`roof` call: 2 per lane and FMA, ``2 iters chains lanes``."""
    return 2 * int(iters) * int(chains) * (int(nbytes) // int(itemsize))


def widest_vector_bytes(flags: set[str] | None = None) -> int:
    """Bytes of the widest float vector the CPU's flags name: 64 (avx512f), 32 (avx), 16."""
    flags = cpu_info()[1] if flags is None else flags
    if "avx512f" in flags:
        return 64
    if "avx" in flags:
        return 32
    return 16


def cpu_info() -> tuple[str, set[str]]:
    """(model name, flags) from ``/proc/cpuinfo``; ("unknown CPU", empty set) elsewhere."""
    name, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name == "unknown CPU":
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return name, flags
