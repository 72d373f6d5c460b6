"""Shared test helpers: tolerances that mean something, and random network cases."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from fastdepth.kernels import Layout
from fastdepth.kernels.settings import ACTIVATIONS

# Normwise relative tolerances per call. float64: the kernels fuse multiply-adds and
# sum in blocks, the reference uses BLAS; both are backward-stable, so they agree to
# a few ulps times the depth (measured ~1e-15). float32: same argument with eps 6e-8.
RTOL = {np.float64: 1e-12, np.float32: 2e-5}

ACTS = sorted(ACTIVATIONS)


def assert_close(actual, expected, dtype=np.float64, rtol=None, what=""):
    """Normwise check ``||a - e|| <= rtol ||e||`` (exact match when ``e`` is zero)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    assert np.array_equal(np.isnan(a), np.isnan(e)), f"{what}: NaN pattern differs"
    m = ~np.isnan(e)
    tol = RTOL[np.dtype(dtype).type] if rtol is None else rtol
    err = np.linalg.norm(a[m] - e[m])
    scale = np.linalg.norm(e[m])
    assert err <= tol * scale or err == 0, f"{what}: relative error {err / scale:.3e} > {tol:.1e}"


def random_case(rng: np.random.Generator, dtype=np.float64, residual: bool | None = None):
    """A random network and input block: widths, sample count (1, ragged, blocks), activation."""
    n_in = int(rng.integers(1, 5))
    depth = int(rng.integers(1, 7))
    res = bool(rng.integers(0, 2)) if residual is None else residual
    if res:
        widths = [int(rng.integers(1, 21))] * depth
        rblock = int(rng.integers(1, 4))
    else:
        widths = [int(rng.integers(1, 21)) for _ in range(depth)]
        rblock = 0
    n = int(rng.choice([1, 2, 7, 15, 16, 17, 33, 100, 127, 128, 129, 300]))
    layout = Layout(n_in, widths)
    scale = 1.0 / np.sqrt(max(widths))
    params = (rng.standard_normal(layout.n_params) * scale * 1.5).astype(dtype)
    X = rng.standard_normal((n_in, n)).astype(dtype)
    act = ACTS[int(rng.integers(0, len(ACTS)))]
    return layout, params, X, act, rblock


@pytest.fixture
def rng(request):
    # A seed per test, stable across runs, so failures reproduce (crc32, not hash():
    # str hashes are salted per process).
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
