"""Benchmarks time the compiled kernels and their NumPy twins side by side in one run.

``pytest bench`` times them (pytest-benchmark); CI runs them once each as plain tests
with ``--benchmark-disable``, so they must stay correct, not just fast: every case
checks the compiled result against the reference before it is timed.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def scale(request) -> str:
    """'full' when timing, 'smoke' when benchmarks are disabled (CI): smaller workloads."""
    return "smoke" if request.config.getoption("benchmark_disable") else "full"
