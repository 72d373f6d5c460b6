"""The dataset registry: one :class:`DatasetSpec` per dataset (adding a dataset = a
generator in :mod:`.generators` and an entry here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .generators import (
    CIRCLE_OUTER,
    circle,
    gaussian,
    gaussian_box,
    gaussian_check,
    moons,
    moons_box,
    no_check,
    regression1d,
    regression1d_box,
    regression1d_check,
    rings,
    rings_check,
    segment,
    segment_box,
    segment_check,
    spirals,
    spirals_check,
    square_box,
    xor,
    xor_check,
)

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
            circle,
            lambda noise: square_box(CIRCLE_OUTER[1], noise),
            no_check,
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
            rings,
            lambda noise, k: square_box(float(k), noise),
            rings_check,
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
            spirals,
            lambda noise, turns: square_box(float(turns), noise),
            spirals_check,
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
            xor,
            lambda noise, margin: square_box(1.0, noise),
            xor_check,
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
            gaussian,
            gaussian_box,
            gaussian_check,
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
            moons,
            moons_box,
            no_check,
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
            segment,
            segment_box,
            segment_check,
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
            regression1d,
            regression1d_box,
            regression1d_check,
        ),
    ]
}
