"""How the batched trainer's work is split over threads (Python side, no compiled code)."""

from __future__ import annotations

import threading

import numpy as np


def batch_costs(
    p_off: np.ndarray, tables: np.ndarray, t_off: np.ndarray, icfg: np.ndarray, dinfo: np.ndarray
) -> np.ndarray:
    """Estimated FLOPs of every network of a packed batch (:func:`layout.run_flops`)."""
    from .columns import D_NTE, D_NTR, I_BATCH, I_DATA, I_EVAL, I_STEPS
    from .layout import run_flops
    from .telemetry import n_eval_points

    costs = np.empty(p_off.shape[0] - 1)
    for k in range(costs.shape[0]):
        d = dinfo[icfg[k, I_DATA]]
        ntr, steps = int(d[D_NTR]), int(icfg[k, I_STEPS])
        per_epoch = -(-ntr // min(int(icfg[k, I_BATCH]), ntr))
        n_eval = n_eval_points(steps, int(icfg[k, I_EVAL]))
        epochs = -(-steps // per_epoch)
        costs[k] = run_flops(tables[t_off[k] : t_off[k + 1]], ntr, int(d[D_NTE]), epochs, n_eval)
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
