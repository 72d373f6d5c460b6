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
from typing import Any

import numpy as np

from ..kernels.vocab import hint
from .generators import (  # noqa: F401 - constants the docs and tests read
    MOONS_SHIFT,
    REGRESSION_DOMAIN,
    REGRESSION_TARGETS,
    SEGMENT_TARGETS,
)
from .registry import DATASETS, DatasetSpec

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "bounding_box",
    "dataset_info",
    "make",
    "make_split",
    "resolve_params",
]


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
