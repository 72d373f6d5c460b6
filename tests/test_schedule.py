"""The split of a batch over threads: every network trained exactly once, big ones first."""

from __future__ import annotations

import threading

import pytest
from fastdepth.kernels.schedule import GuidedChunks


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 250, 1001])
@pytest.mark.parametrize("n_threads", [1, 2, 8])
def test_guided_chunks_cover_every_job_once_in_order(n, n_threads):
    chunks = list(GuidedChunks(n, n_threads))
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:], strict=False))
    sizes = [hi - lo for lo, hi in chunks]
    assert min(sizes) >= 1
    assert sizes == sorted(sizes, reverse=True)  # shrinking: the small jobs come last
    assert sizes[-1] == 1 or len(sizes) == 1  # the tail is handed out one job at a time
    assert len(chunks) <= 4 * n_threads * (1 + n.bit_length()) + 4 * n_threads


def test_guided_chunks_are_shared_safely_between_threads():
    chunks = GuidedChunks(20000, 4)
    taken: list[list[tuple[int, int]]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def take(i):
        start.wait()
        for c in chunks:
            taken[i].append(c)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs = sorted(j for mine in taken for lo, hi in mine for j in range(lo, hi))
    assert jobs == list(range(20000))  # nothing lost, nothing twice
