"""The dataset generators: seeded draws, parameter checks and plotting boxes, one per dataset.

Each generator takes ``(rng, n, noise, **params)`` and returns ``X`` float64 ``(n, n_in)``
and ``y`` float64 ``(n,)``; the registry (:mod:`.registry`) names them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def _class_counts(n: int) -> tuple[int, int]:
    """Exact balance: class 1 gets ``n // 2`` points, class 0 the remainder."""
    n1 = n // 2
    return n - n1, n1


def _polar(r: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return np.column_stack([r * np.cos(theta), r * np.sin(theta)])


def _uniform_annulus(rng: np.random.Generator, n: int, r0: float, r1: float) -> np.ndarray:
    """``n`` points uniform *by area* in the annulus ``r0 <= r < r1`` (a disc if ``r0 == 0``)."""
    theta = rng.uniform(0.0, 2.0 * np.pi, n)
    r = np.sqrt(rng.uniform(r0 * r0, r1 * r1, n))
    return _polar(r, theta)


def _labels(n0: int, n1: int) -> np.ndarray:
    return np.concatenate([np.zeros(n0), np.ones(n1)])


def _jitter(rng: np.random.Generator, X: np.ndarray, noise: float) -> np.ndarray:
    # Always draw, even for noise == 0, so the stream consumed does not depend on the noise
    # level: the clean points of a noise sweep are then identical across noise levels.
    return X + noise * rng.standard_normal(X.shape)


def square_box(half: float, noise: float) -> np.ndarray:
    h = half + 3.0 * noise
    return np.array([[-h, h], [-h, h]])


def no_check(**params: Any) -> None:
    return None


def _check_int(name: str, value: Any, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")


def _check_real(name: str, value: Any, *, positive: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


# ----------------------------------------------------------------------------------------------
# circle

CIRCLE_INNER = 1.0
CIRCLE_OUTER = (1.4, 2.0)


def circle(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    inner = _uniform_annulus(rng, n1, 0.0, CIRCLE_INNER)
    outer = _uniform_annulus(rng, n0, *CIRCLE_OUTER)
    X = _jitter(rng, np.concatenate([outer, inner]), noise)
    return X, _labels(n0, n1)


# ----------------------------------------------------------------------------------------------
# rings (benchmark workload W1)


def _ring_counts(n: int, k: int) -> np.ndarray:
    """Equal points per ring; the first ``n % k`` rings get one extra point."""
    return n // k + (np.arange(k) < n % k)


def rings(rng: np.random.Generator, n: int, noise: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    counts = _ring_counts(n, k)
    ring = np.repeat(np.arange(k), counts)
    theta = rng.uniform(0.0, 2.0 * np.pi, n)
    r = (ring + 1.0) + noise * rng.standard_normal(n)
    return _polar(r, theta), (ring % 2).astype(np.float64)


def rings_check(k: Any) -> None:
    _check_int("k (number of rings)", k, 2)


# ----------------------------------------------------------------------------------------------
# spirals


def spirals(
    rng: np.random.Generator, n: int, noise: float, turns: float
) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    label = _labels(n0, n1)
    # t = turns * sqrt(u) makes the density uniform along the arc (arc length grows like t^2),
    # so the centre, where the arms meet, is not over-sampled.
    t = turns * np.sqrt(rng.uniform(0.0, 1.0, n))
    X = _polar(t, 2.0 * np.pi * t + np.pi * label)
    return _jitter(rng, X, noise), label


def spirals_check(turns: Any) -> None:
    _check_real("turns", turns, positive=True)


# ----------------------------------------------------------------------------------------------
# xor


def xor(
    rng: np.random.Generator, n: int, noise: float, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    label = _labels(n0, n1)
    mag = rng.uniform(margin, 1.0, (n, 2))
    s0 = rng.choice([-1.0, 1.0], n)
    # class 1: same signs (quadrants I and III), class 0: opposite signs (II and IV)
    s1 = np.where(label == 1.0, s0, -s0)
    X = mag * np.column_stack([s0, s1])
    return _jitter(rng, X, noise), label


def xor_check(margin: Any) -> None:
    _check_real("margin", margin)
    if margin >= 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")


# ----------------------------------------------------------------------------------------------
# gaussian


def gaussian(
    rng: np.random.Generator, n: int, noise: float, separation: float
) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    label = _labels(n0, n1)
    c = separation / (2.0 * np.sqrt(2.0))  # centres +-(c, c) are `separation` apart
    centre = np.where(label[:, None] == 1.0, c, -c) * np.ones((n, 2))
    return _jitter(rng, centre, noise), label


def gaussian_check(separation: Any) -> None:
    _check_real("separation", separation)


def gaussian_box(noise: float, separation: float) -> np.ndarray:
    return square_box(separation / (2.0 * np.sqrt(2.0)), noise)


# ----------------------------------------------------------------------------------------------
# moons

MOONS_SHIFT = np.array([0.5, 0.25])


def moons(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    t0 = rng.uniform(0.0, np.pi, n0)
    t1 = rng.uniform(0.0, np.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.concatenate([upper, lower]) - MOONS_SHIFT
    return _jitter(rng, X, noise), _labels(n0, n1)


def moons_box(noise: float) -> np.ndarray:
    p = 3.0 * noise
    return np.array([[-1.5 - p, 1.5 + p], [-0.75 - p, 0.75 + p]])


# ----------------------------------------------------------------------------------------------
# segment (1-D classification)

SEGMENT_TARGETS = ("sign", "abs", "sin")


def _segment_intervals(target: str, freq: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Left ends of equal-length class-0 and class-1 intervals on [-1, 1], and their length."""
    if target == "sign":
        return np.array([-1.0]), np.array([0.0]), 1.0
    if target == "abs":
        return np.array([-0.5, 0.0]), np.array([-1.0, 0.5]), 0.5
    # sin(freq*pi*x) > 0 exactly when floor(freq*x) is even: 2*freq intervals of length 1/freq
    j = np.arange(2 * freq)
    left = -1.0 + j / freq
    pos = (j - freq) % 2 == 0
    return left[~pos], left[pos], 1.0 / freq


def segment(
    rng: np.random.Generator, n: int, noise: float, target: str, freq: int
) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    left0, left1, length = _segment_intervals(target, freq)
    # pick an interval of the class uniformly, then a point uniformly inside it: uniform
    # density on the class region because all intervals have the same length
    x0 = left0[rng.integers(0, len(left0), n0)] + length * rng.uniform(0.0, 1.0, n0)
    x1 = left1[rng.integers(0, len(left1), n1)] + length * rng.uniform(0.0, 1.0, n1)
    X = np.concatenate([x0, x1])[:, None]
    return _jitter(rng, X, noise), _labels(n0, n1)


def segment_check(target: Any, freq: Any) -> None:
    _check_choice("target", target, SEGMENT_TARGETS)
    _check_int("freq", freq, 1)


def segment_box(noise: float, target: str, freq: int) -> np.ndarray:
    return np.array([[-1.0 - 3.0 * noise, 1.0 + 3.0 * noise]])


# ----------------------------------------------------------------------------------------------
# regression1d

REGRESSION_TARGETS = ("sinsinsin", "cubic")
_SSS_PEAK = math.sin(math.sin(1.0))  # max of sin(sin(sin(x))), reached at x = pi/2
REGRESSION_DOMAIN = {"sinsinsin": (-np.pi, np.pi), "cubic": (-1.5, 1.5)}


def _regression_target(x: np.ndarray, target: str) -> np.ndarray:
    if target == "sinsinsin":
        return np.sin(np.sin(np.sin(x))) / _SSS_PEAK
    return x**3 - x


def regression1d(
    rng: np.random.Generator, n: int, noise: float, target: str
) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = REGRESSION_DOMAIN[target]
    x = rng.uniform(lo, hi, n)
    y = _regression_target(x, target) + noise * rng.standard_normal(n)
    return x[:, None], y


def regression1d_check(target: Any) -> None:
    _check_choice("target", target, REGRESSION_TARGETS)


def regression1d_box(noise: float, target: str) -> np.ndarray:
    return np.array([REGRESSION_DOMAIN[target]], dtype=np.float64)
