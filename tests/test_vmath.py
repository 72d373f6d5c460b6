"""The branch-free ``exp`` / ``log1p`` and the fixed-order sums of ``kernels/vmath.py``.

They replace libm inside the loss, so they must be as accurate as libm (NumPy is the
judge here, itself within 1 ulp), keep NaN and infinities, and give the same bits
whichever path of a vectorised loop an element takes.
"""

from __future__ import annotations

import math

import fastdepth.kernels as K
import numba
import numpy as np
import pytest
from fastdepth.kernels.vmath import (
    lane_sum8,
    lane_sumsq8,
    log1p01,
    verf,
    vexp,
    vexpm1_neg,
    vsigmoid,
    vtanh,
)

TINY = np.finfo(np.float64).tiny  # smallest normal float64


@numba.njit
def _apply(f, x, out):
    # a loop over the samples, as in the kernels (f is inlined and vectorised here too)
    for i in range(x.shape[0]):
        out[i] = f(x[i])


def _vexp_all(x, out):
    _apply(vexp, x, out)


def _log1p_all(x, out):
    _apply(log1p01, x, out)


def _expm1_all(x, out):
    _apply(vexpm1_neg, x, out)


def _tanh_all(x, out):
    _apply(vtanh, x, out)


def _sigmoid_all(x, out):
    _apply(vsigmoid, x, out)


@numba.njit(error_model="numpy")  # as the kernels: verf is inlined into its caller
def _erf_all(x, out):
    for i in range(x.shape[0]):
        out[i] = verf(x[i])


@numba.njit
def _libm_erf_all(x, out):
    for i in range(x.shape[0]):
        out[i] = math.erf(x[i])


@numba.njit
def _sums(w, lo, hi):
    return lane_sum8(w, lo, hi), lane_sumsq8(w, lo, hi)


def _ulps(actual, expected):
    return np.abs(actual - expected) / np.spacing(np.abs(expected))


def test_vexp_within_one_ulp_of_numpy_everywhere():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(-708, 709.7, 400_000),  # normal results
        rng.uniform(-1, 1, 200_000),
        rng.uniform(-1e-9, 1e-9, 50_000),
        np.arange(-700, 700, 0.5),  # multiples of ln2 / 2 neighbourhoods included
        np.arange(-40, 40) * math.log(2),
    ])  # fmt: skip
    got = np.empty_like(x)
    _vexp_all(x, got)
    want = np.exp(x)
    assert _ulps(got, want).max() <= 1.0
    assert np.mean(got == want) > 0.9  # mostly correctly rounded, not merely close


def test_vexp_subnormal_results_and_edges():
    rng = np.random.default_rng(1)
    x = rng.uniform(-745.2, -708.4, 100_000)
    got = np.empty_like(x)
    _vexp_all(x, got)
    want = np.exp(x)
    assert want.min() < TINY  # the range reaches the subnormals
    # Subnormal results are rounded once, at the last scaling: at most one unit apart.
    assert np.abs(got - want).max() <= 5e-324
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -746.0, -800.0, -1e308, 709.79,
                      800.0, 1e308, 5e-324, -5e-324])  # fmt: skip
    got = np.empty_like(edges)
    _vexp_all(edges, got)
    with np.errstate(over="ignore"):
        want = np.exp(edges)
    np.testing.assert_array_equal(got, want)


def test_log1p01_within_one_ulp_on_its_domain():
    rng = np.random.default_rng(2)
    x = np.concatenate([
        rng.uniform(0, 1, 300_000),
        10.0 ** rng.uniform(-320, 0, 300_000),  # down to subnormal arguments
        np.linspace(0.40, 0.43, 20_001),  # both sides of the sqrt(2) - 1 switch
        [1.0, np.sqrt(2) - 1, np.nextafter(np.sqrt(2) - 1, 0), TINY, 5e-324],
    ])  # fmt: skip
    got = np.empty_like(x)
    _log1p_all(x, got)
    want = np.log1p(x)
    assert _ulps(got, want).max() <= 1.0
    assert np.mean(got == want) > 0.9
    got = np.empty(3)
    _log1p_all(np.array([0.0, -0.0, np.nan]), got)
    assert got[0] == 0.0 and got[1] == 0.0 and np.isnan(got[2])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 64, 1000, 1003])
def test_lane_sums_follow_the_documented_order(n):
    rng = np.random.default_rng(n)
    w = rng.standard_normal(n + 5) * 10.0 ** rng.uniform(-3, 3, n + 5)
    lo, hi = 2, 2 + n

    def by_hand(v):
        # lane i % 8 of the first 8 * (n // 8) values, lanes combined pairwise, tail in order
        m = n // 8 * 8
        a = [0.0] * 8
        for i in range(m):
            a[i % 8] += v[i]
        total = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
        for i in range(m, n):
            total += v[i]
        return total

    s, sq = _sums(w, lo, hi)
    seg = [float(v) for v in w[lo:hi]]
    assert s == by_hand(seg)  # exact: the same additions in the same order
    assert sq == by_hand([v * v for v in seg])
    assert abs(s - math.fsum(seg)) <= 1e-14 * math.fsum(abs(v) for v in seg) + 1e-300


def test_lane_sumsq8_squares_float32_in_float64():
    x = np.array([3e-23, 4e-23] * 8, dtype=np.float32)  # squares underflow in float32
    _, sq = _sums(x, 0, x.shape[0])
    assert sq == pytest.approx(8 * (9e-46 + 16e-46), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_gradient_bits_do_not_depend_on_the_position_in_the_loop(dtype):
    # A vectorised loop runs most samples in its vector body and the last few in a
    # scalar remainder. Shifting the samples moves each between the two paths; every
    # sample must keep its bits (its gradient scaled by the same 1/n).
    rng = np.random.default_rng(4)
    n = 1003
    z = (rng.standard_normal(n + 5) * 6).astype(dtype)
    y = (rng.random(n + 5) > 0.5).astype(dtype)
    _, d_full = K.bce_with_logits(z[:n], y[:n])
    for shift in range(1, 6):
        _, d = K.bce_with_logits(z[shift : n + shift], y[shift : n + shift])
        np.testing.assert_array_equal(d[: n - shift], d_full[shift:])


def _activation_points(rng):
    neg = np.concatenate([
        -rng.uniform(0, 80, 300_000),
        -rng.uniform(0, 1, 300_000),
        -(10.0 ** rng.uniform(-320, 0, 200_000)),
        [-np.log(2) / 2, -60.0, -61.0, -5e-324],
    ])  # fmt: skip
    return neg


def test_vexpm1_neg_within_two_ulp_where_exp_minus_one_cancels():
    x = _activation_points(np.random.default_rng(5))
    got = np.empty_like(x)
    _expm1_all(x, got)
    want = np.expm1(x)
    assert _ulps(got, want).max() <= 2.0
    edges = np.array([0.0, -0.0, -np.inf, np.nan, -1e308])
    got = np.empty_like(edges)
    _expm1_all(edges, got)
    np.testing.assert_array_equal(got, np.expm1(edges))
    assert np.signbit(got[1])  # expm1(-0) = -0


def test_vtanh_within_three_ulp_and_odd():
    neg = _activation_points(np.random.default_rng(6))
    z = np.concatenate([neg, -neg])
    got = np.empty_like(z)
    _tanh_all(z, got)
    assert _ulps(got, np.tanh(z)).max() <= 3.0
    n = neg.shape[0]
    np.testing.assert_array_equal(got[:n], -got[n:])  # exactly odd, signed zeros included
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, 5e-324])
    got = np.empty_like(edges)
    _tanh_all(edges, got)
    np.testing.assert_array_equal(got, np.tanh(edges))
    np.testing.assert_array_equal(np.signbit(got[:2]), [False, True])


def test_vsigmoid_matches_the_two_branch_formula_and_never_overflows():
    neg = _activation_points(np.random.default_rng(7))
    z = np.concatenate([neg, -neg, [0.0, np.inf, -np.inf, 800.0, -800.0]])
    got = np.empty_like(z)
    _sigmoid_all(z, got)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(z))
        want = np.where(z >= 0, 1.0, e) / (1.0 + e)
    assert _ulps(got, want).max() <= 2.0  # exp may differ by 1 ulp, then one more rounding
    assert np.isfinite(got).all() and got.min() >= 0 and got.max() <= 1
    got = np.empty(1)
    _sigmoid_all(np.array([np.nan]), got)
    assert np.isnan(got[0])


def test_verf_within_three_ulp_of_libm_and_odd():
    rng = np.random.default_rng(8)
    pos = np.concatenate([
        rng.uniform(0, 7, 600_000),
        rng.uniform(0, 1.2, 300_000),
        rng.uniform(0, 1e-6, 10_000),
        np.linspace(0.99, 1.01, 20_001),  # where the two approximations meet
        np.linspace(5.8, 6.2, 2_001),  # the clamp, where erf reaches 1
    ])  # fmt: skip
    x = np.concatenate([pos, -pos])
    got, want = np.empty_like(x), np.empty_like(x)
    _erf_all(x, got)
    _libm_erf_all(x, want)  # glibc's erf, within 1 ulp
    ulps = _ulps(got, want)
    assert ulps.max() <= 3.0
    assert ulps[np.abs(x) > 1.0].max() <= 1.0
    assert np.mean(got == want) > 0.8
    n = pos.shape[0]
    np.testing.assert_array_equal(got[:n], -got[n:])
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324, -5e-324,
                      1e-300, 6.0, -6.0, 40.0])  # fmt: skip
    got, want = np.empty_like(edges), np.empty_like(edges)
    _erf_all(edges, got)
    _libm_erf_all(edges, want)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[:2]), [False, True])
