"""How the batched trainer's work is split over threads (Python side, no compiled code)."""

from __future__ import annotations

import threading

import numpy as np


def batch_costs(
    p_off: np.ndarray, tables: np.ndarray, t_off: np.ndarray, icfg: np.ndarray, dinfo: np.ndarray
) -> np.ndarray:
    """Estimated FLOPs of every network of a packed batch (training + evaluations)."""
    from .trainer import D_NTE, D_NTR, I_DATA, I_EVAL, I_STEPS

    costs = np.empty(p_off.shape[0] - 1)
    for k in range(costs.shape[0]):
        tab = tables[t_off[k] : t_off[k + 1]]
        s = float(np.sum(tab[:, 0] * tab[:, 1]))
        d = dinfo[icfg[k, I_DATA]]
        steps = float(icfg[k, I_STEPS])
        evals = steps / icfg[k, I_EVAL] + 2
        costs[k] = 6 * s * d[D_NTR] * steps + 2 * s * (d[D_NTR] + d[D_NTE]) * evals
    return costs


class GuidedChunks:
    """Thread-safe iterator over ``[lo, hi)`` chunks that cover ``range(n)`` in order.

    Each chunk is ``max(1, remaining // (4 * n_threads))`` long (OpenMP's "guided"
    schedule): large chunks first, while the jobs (sorted longest first) are the big
    ones, single jobs at the end, so the threads finish within about one small job of
    each other, and there are only O(n_threads log n) calls.
    """

    def __init__(self, n: int, n_threads: int) -> None:
        self._n = int(n)
        self._div = 4 * max(1, int(n_threads))
        self._next = 0
        self._lock = threading.Lock()

    def __iter__(self) -> GuidedChunks:
        return self

    def __next__(self) -> tuple[int, int]:
        with self._lock:
            lo = self._next
            if lo >= self._n:
                raise StopIteration
            hi = lo + max(1, (self._n - lo) // self._div)
            self._next = hi
        return lo, hi
