"""Counter-based mini-batch order: a permutation that depends only on (key, epoch).

Never ``np.random`` in the trainer threads: its state is per thread, so results would
depend on scheduling. Here each draw is a SplitMix64 hash of (key, epoch, i), so a
run reshuffles identically wherever and with whatever neighbours it is computed.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(inline="always")
def splitmix64(x):
    """The SplitMix64 finaliser of a uint64 (wraps modulo 2**64)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit
def permutation_flat(key, epoch, n, out):
    """Fisher-Yates permutation of ``0..n-1`` into ``out[:n]`` keyed by (key, epoch)."""
    for i in range(n):
        out[i] = i
    base = splitmix64(np.uint64(key) ^ splitmix64(np.uint64(epoch)))
    for i in range(n - 1, 0, -1):
        j = np.int64(splitmix64(base + np.uint64(i)) % np.uint64(i + 1))
        tmp = out[i]
        out[i] = out[j]
        out[j] = tmp
