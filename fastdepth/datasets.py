"""Seeded toy datasets for depth studies: 2-D classification, 1-D classification and regression.

Every generator returns ``X`` float64, shape ``(n, n_in)``, C-contiguous, and ``y`` float64,
shape ``(n,)``: class labels in {0, 1} for classification, the real target for regression.
Classification sets are *exactly* balanced (``n // 2`` points of class 1, the rest class 0)
unless stated otherwise, and the rows are shuffled, so any prefix is a fair sample.

The same ``(name, n, noise, seed, params)`` always gives the same arrays: the stream is
``np.random.default_rng([seed, 0])`` for :func:`make` and for the training half of
:func:`make_split`, ``np.random.default_rng([seed, 1])`` for its test half.

============ ==== ============== ==========================================================
name         n_in task           noise (default) and parameters (defaults)
============ ==== ============== ==========================================================
circle       2    classification gaussian jitter sd on x (0.1)
rings        2    classification radial sd (0.1); ``k`` rings (4)
spirals      2    classification gaussian jitter sd on x (0.1); ``turns`` (1.5)
xor          2    classification gaussian jitter sd on x (0.05); ``margin`` (0.1)
gaussian     2    classification blob sd (0.5); ``separation`` of the centres (3.0)
moons        2    classification gaussian jitter sd on x (0.1)
segment      1    classification jitter sd on x (0.0); ``target`` ('sign'), ``freq`` (3)
regression1d 1    regression     gaussian sd on y (0.05); ``target`` ('sinsinsin')
============ ==== ============== ==========================================================

Use :func:`dataset_info` for the exact definitions.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .kernels.vocab import hint

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "bounding_box",
    "dataset_info",
    "make",
    "make_split",
    "resolve_params",
]

Generator = Callable[..., tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class DatasetSpec:
    """Registry entry of one dataset.

    Attributes
    ----------
    name : str
        Registry key.
    n_in : int
        Input dimension (columns of ``X``).
    task : {'classification', 'regression'}
        Decides the valid loss (``bce`` vs ``mse``) in :class:`fastdepth.config.RunConfig`.
    noise : float
        Default noise level (meaning documented in ``description``).
    params : mapping
        Extra keyword parameters and their defaults.
    description : str
        Exact definition of the distribution.
    generate : callable
        ``generate(rng, n, noise, **params) -> (X, y)``; rows need not be shuffled.
    box : callable
        ``box(noise, **params) -> ndarray (n_in, 2)``: a box holding the clean support
        padded by three noise standard deviations.
    check : callable
        ``check(**params) -> None``; raises ``ValueError`` for invalid parameter values.
    """

    name: str
    n_in: int
    task: str
    noise: float
    params: Mapping[str, Any]
    description: str
    generate: Generator = field(repr=False)
    box: Callable[..., np.ndarray] = field(repr=False)
    check: Callable[..., None] = field(repr=False)


# ----------------------------------------------------------------------------------------------
# helpers


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


def _square_box(half: float, noise: float) -> np.ndarray:
    h = half + 3.0 * noise
    return np.array([[-h, h], [-h, h]])


def _no_check(**params: Any) -> None:
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


def _circle(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
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


def _rings(rng: np.random.Generator, n: int, noise: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    counts = _ring_counts(n, k)
    ring = np.repeat(np.arange(k), counts)
    theta = rng.uniform(0.0, 2.0 * np.pi, n)
    r = (ring + 1.0) + noise * rng.standard_normal(n)
    return _polar(r, theta), (ring % 2).astype(np.float64)


def _rings_check(k: Any) -> None:
    _check_int("k (number of rings)", k, 2)


# ----------------------------------------------------------------------------------------------
# spirals


def _spirals(
    rng: np.random.Generator, n: int, noise: float, turns: float
) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    label = _labels(n0, n1)
    # t = turns * sqrt(u) makes the density uniform along the arc (arc length grows like t^2),
    # so the centre, where the arms meet, is not over-sampled.
    t = turns * np.sqrt(rng.uniform(0.0, 1.0, n))
    X = _polar(t, 2.0 * np.pi * t + np.pi * label)
    return _jitter(rng, X, noise), label


def _spirals_check(turns: Any) -> None:
    _check_real("turns", turns, positive=True)


# ----------------------------------------------------------------------------------------------
# xor


def _xor(
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


def _xor_check(margin: Any) -> None:
    _check_real("margin", margin)
    if margin >= 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")


# ----------------------------------------------------------------------------------------------
# gaussian


def _gaussian(
    rng: np.random.Generator, n: int, noise: float, separation: float
) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    label = _labels(n0, n1)
    c = separation / (2.0 * np.sqrt(2.0))  # centres +-(c, c) are `separation` apart
    centre = np.where(label[:, None] == 1.0, c, -c) * np.ones((n, 2))
    return _jitter(rng, centre, noise), label


def _gaussian_check(separation: Any) -> None:
    _check_real("separation", separation)


def _gaussian_box(noise: float, separation: float) -> np.ndarray:
    return _square_box(separation / (2.0 * np.sqrt(2.0)), noise)


# ----------------------------------------------------------------------------------------------
# moons

MOONS_SHIFT = np.array([0.5, 0.25])


def _moons(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_counts(n)
    t0 = rng.uniform(0.0, np.pi, n0)
    t1 = rng.uniform(0.0, np.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.concatenate([upper, lower]) - MOONS_SHIFT
    return _jitter(rng, X, noise), _labels(n0, n1)


def _moons_box(noise: float) -> np.ndarray:
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


def _segment(
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


def _segment_check(target: Any, freq: Any) -> None:
    _check_choice("target", target, SEGMENT_TARGETS)
    _check_int("freq", freq, 1)


def _segment_box(noise: float, target: str, freq: int) -> np.ndarray:
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


def _regression1d(
    rng: np.random.Generator, n: int, noise: float, target: str
) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = REGRESSION_DOMAIN[target]
    x = rng.uniform(lo, hi, n)
    y = _regression_target(x, target) + noise * rng.standard_normal(n)
    return x[:, None], y


def _regression1d_check(target: Any) -> None:
    _check_choice("target", target, REGRESSION_TARGETS)


def _regression1d_box(noise: float, target: str) -> np.ndarray:
    return np.array([REGRESSION_DOMAIN[target]], dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# registry

DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        DatasetSpec(
            "circle",
            2,
            "classification",
            0.1,
            MappingProxyType({}),
            "Label 1: uniform (by area) in the disc r < 1. Label 0: uniform in the annulus "
            "1.4 <= r < 2 (TensorFlow Playground proportions). Then gaussian jitter of sd "
            "`noise` on both coordinates.",
            _circle,
            lambda noise: _square_box(CIRCLE_OUTER[1], noise),
            _no_check,
        ),
        DatasetSpec(
            "rings",
            2,
            "classification",
            0.1,
            MappingProxyType({"k": 4}),
            "k nested rings, ring i (0-based) has radius i + 1; angle uniform, radius "
            "i + 1 + N(0, noise^2); equal points per ring (the first n % k rings get one "
            "more); label = i % 2. make('rings', 1000) is benchmark workload W1.",
            _rings,
            lambda noise, k: _square_box(float(k), noise),
            _rings_check,
        ),
        DatasetSpec(
            "spirals",
            2,
            "classification",
            0.1,
            MappingProxyType({"turns": 1.5}),
            "Two interleaved Archimedean spirals: t = turns * sqrt(u), u ~ U(0, 1) (uniform "
            "density along the arc), point = t * (cos(2 pi t + pi c), sin(2 pi t + pi c)) for "
            "class c, so the radius grows by 1 per turn and the arms are 0.5 apart; then "
            "gaussian jitter of sd `noise`.",
            _spirals,
            lambda noise, turns: _square_box(float(turns), noise),
            _spirals_check,
        ),
        DatasetSpec(
            "xor",
            2,
            "classification",
            0.05,
            MappingProxyType({"margin": 0.1}),
            "Four quadrants of [-1, 1]^2 with a band of half-width `margin` removed around "
            "both axes; label = 1 if x0 * x1 > 0 (quadrants I, III) else 0, decided before "
            "gaussian jitter of sd `noise`.",
            _xor,
            lambda noise, margin: _square_box(1.0, noise),
            _xor_check,
        ),
        DatasetSpec(
            "gaussian",
            2,
            "classification",
            0.5,
            MappingProxyType({"separation": 3.0}),
            "Two isotropic gaussian blobs of sd `noise` centred at +-(s, s) / (2 sqrt 2) "
            "(centres `separation` apart along the diagonal); label 1 is the (+, +) blob. "
            "Bayes accuracy Phi(separation / (2 noise)): 99.87% at the defaults.",
            _gaussian,
            _gaussian_box,
            _gaussian_check,
        ),
        DatasetSpec(
            "moons",
            2,
            "classification",
            0.1,
            MappingProxyType({}),
            "Two interleaved half circles as in sklearn.datasets.make_moons: label 0 "
            "(cos t, sin t), label 1 (1 - cos t, 1/2 - sin t), t ~ U(0, pi), shifted by "
            "(-0.5, -0.25) so the data are centred; then gaussian jitter of sd `noise`.",
            _moons,
            _moons_box,
            _no_check,
        ),
        DatasetSpec(
            "segment",
            1,
            "classification",
            0.0,
            MappingProxyType({"target": "sign", "freq": 3}),
            "1-D input uniform on each class region of [-1, 1]. target='sign': label = "
            "x > 0; 'abs': label = |x| > 0.5; 'sin': label = sin(freq pi x) > 0 (freq "
            "integer: 2 freq alternating pieces, a test of how many linear pieces a depth "
            "buys). Exactly balanced; then gaussian jitter of sd `noise` on x.",
            _segment,
            _segment_box,
            _segment_check,
        ),
        DatasetSpec(
            "regression1d",
            1,
            "regression",
            0.05,
            MappingProxyType({"target": "sinsinsin"}),
            "1-D regression, y = f(x) + N(0, noise^2). target='sinsinsin': x ~ U(-pi, pi), "
            "f = sin(sin(sin(x))) / sin(sin(1)) (peak 1, a composition that depth may "
            "exploit); 'cubic': x ~ U(-1.5, 1.5), f = x^3 - x.",
            _regression1d,
            _regression1d_box,
            _regression1d_check,
        ),
    ]
}


# ----------------------------------------------------------------------------------------------
# public API


def _spec(name: str) -> DatasetSpec:
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name]
    valid = ", ".join(DATASETS)
    raise ValueError(f"unknown dataset {name!r}{hint(name, DATASETS)} valid datasets: {valid}")


def resolve_params(
    name: str, noise: float | None = None, **params: Any
) -> tuple[float, dict[str, Any]]:
    """Validate a dataset's noise and parameters and fill in the documented defaults.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    noise : float or None
        Noise level, ``None`` for the dataset's default. Must be finite and >= 0.
    **params
        Dataset parameters (see :func:`dataset_info`); missing ones take their defaults.

    Returns
    -------
    noise : float
    params : dict
        Every parameter of the dataset, in the registry's order.

    Raises
    ------
    ValueError
        Unknown dataset or parameter (with the closest valid name), invalid values.
    """
    spec = _spec(name)
    if noise is None:
        noise = spec.noise
    ok = isinstance(noise, numbers.Real) and not isinstance(noise, bool)
    if not ok or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0 (or None for default), got {noise!r}")
    unknown = [p for p in params if p not in spec.params]
    if unknown:
        accepted = ", ".join(spec.params) or "none"
        raise ValueError(
            f"dataset {name!r} has no parameter {unknown[0]!r}{hint(unknown[0], spec.params)} "
            f"accepted parameters: "
            f"{accepted}"
        )
    full = {**spec.params, **params}
    try:
        spec.check(**full)
    except ValueError as e:
        raise ValueError(f"dataset {name!r}: {e}") from None
    return float(noise), full


def _check_n(n: Any, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {n!r}")
    return int(n)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _draw(
    spec: DatasetSpec, n: int, noise: float, params: dict, seed: int, stream: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, stream])
    X, y = spec.generate(rng, n, noise, **params)
    # generators emit class blocks; shuffle so any prefix or minibatch is a fair sample
    perm = rng.permutation(n)
    X = np.ascontiguousarray(X[perm], dtype=np.float64)
    y = np.ascontiguousarray(y[perm], dtype=np.float64)
    return X, y


def make(
    name: str, n: int, noise: float | None = None, seed: int = 0, **params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points of a registered dataset.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (``'circle'``, ``'rings'``, ...).
    n : int
        Number of points, >= 1.
    noise : float or None
        Noise level (meaning per dataset, see :func:`dataset_info`); ``None`` = default.
    seed : int
        Non-negative seed; the stream is ``np.random.default_rng([seed, 0])``.
    **params
        Dataset parameters, e.g. ``k=4`` for ``'rings'``.

    Returns
    -------
    X : ndarray of float64, shape (n, n_in), C-contiguous
    y : ndarray of float64, shape (n,)
        Labels in {0, 1} (classification) or the target (regression).

    Examples
    --------
    >>> X, y = make("rings", 1000, seed=3)  # benchmark workload W1
    >>> X.shape, int(y.sum())
    ((1000, 2), 500)
    """
    spec = _spec(name)
    n = _check_n(n)
    seed = _check_seed(seed)
    noise, params = resolve_params(name, noise, **params)
    return _draw(spec, n, noise, params, seed, 0)


def make_split(
    name: str,
    n_train: int,
    n_test: int,
    noise: float | None = None,
    seed: int = 0,
    **params: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Independent training and test draws from the same distribution.

    The training half equals ``make(name, n_train, noise, seed, **params)``; the test half
    uses the independent stream ``np.random.default_rng([seed, 1])``.

    Returns
    -------
    X_train : ndarray of float64, shape (n_train, n_in)
    y_train : ndarray of float64, shape (n_train,)
    X_test : ndarray of float64, shape (n_test, n_in)
    y_test : ndarray of float64, shape (n_test,)
    """
    spec = _spec(name)
    n_train = _check_n(n_train, "n_train")
    n_test = _check_n(n_test, "n_test")
    seed = _check_seed(seed)
    noise, params = resolve_params(name, noise, **params)
    X_train, y_train = _draw(spec, n_train, noise, params, seed, 0)
    X_test, y_test = _draw(spec, n_test, noise, params, seed, 1)
    return X_train, y_train, X_test, y_test


def dataset_info(name: str) -> dict[str, Any]:
    """Describe a dataset.

    Returns
    -------
    dict
        ``name``, ``n_in`` (int), ``task`` ('classification' | 'regression'),
        ``n_classes`` (2, or None for regression), ``defaults`` (dict with ``noise`` and
        every parameter) and ``description`` (the exact definition).
    """
    spec = _spec(name)
    return {
        "name": spec.name,
        "n_in": spec.n_in,
        "task": spec.task,
        "n_classes": 2 if spec.task == "classification" else None,
        "defaults": {"noise": spec.noise, **spec.params},
        "description": spec.description,
    }


def bounding_box(name: str, noise: float | None = None, **params: Any) -> np.ndarray:
    """A box holding (almost) all points, for decision-boundary plots.

    Returns
    -------
    ndarray of float64, shape (n_in, 2)
        ``[lo, hi]`` per input dimension: the clean support padded by ``3 * noise`` (for
        regression, the input domain).
    """
    spec = _spec(name)
    noise, params = resolve_params(name, noise, **params)
    return np.asarray(spec.box(noise, **params), dtype=np.float64)
