"""Dataset generators: shapes, determinism, balance, the documented geometry, errors."""

from __future__ import annotations

import numpy as np
import pytest

from fastdepth import datasets
from fastdepth.datasets import DATASETS, bounding_box, dataset_info, make, make_split

NAMES = list(DATASETS)
CLASSIFICATION = [n for n in NAMES if DATASETS[n].task == "classification"]


def radius(X: np.ndarray) -> np.ndarray:
    return np.hypot(X[:, 0], X[:, 1])


def test_registry_lists_the_documented_datasets() -> None:
    assert set(NAMES) == {
        "circle",
        "rings",
        "spirals",
        "xor",
        "gaussian",
        "moons",
        "segment",
        "regression1d",
    }


@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtypes_and_layout(name: str) -> None:
    info = dataset_info(name)
    X, y = make(name, 301, seed=1)
    assert X.shape == (301, info["n_in"]) and y.shape == (301,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert X.flags.c_contiguous and y.flags.c_contiguous
    assert np.isfinite(X).all() and np.isfinite(y).all()


@pytest.mark.parametrize("name", CLASSIFICATION)
@pytest.mark.parametrize("n", [1, 2, 1000, 1001])
def test_classification_labels_are_binary_and_exactly_balanced(name: str, n: int) -> None:
    _, y = make(name, n, seed=2)
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert y.sum() == n // 2


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    X1, y1 = make(name, 200, seed=7)
    X2, y2 = make(name, 200, seed=7)
    X3, _ = make(name, 200, seed=8)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_rows_are_shuffled_so_prefixes_are_fair(name: str) -> None:
    # generators emit class blocks; make() must not return them sorted by label
    _, y = make(name, 1000, seed=0)
    assert 0.35 < y[:100].mean() < 0.65


@pytest.mark.parametrize("name", NAMES)
def test_make_split_train_is_make_and_test_is_independent(name: str) -> None:
    X, y = make(name, 150, seed=4)
    Xtr, ytr, Xte, yte = make_split(name, 150, 80, seed=4)
    np.testing.assert_array_equal(Xtr, X)
    np.testing.assert_array_equal(ytr, y)
    assert Xte.shape == (80, X.shape[1]) and yte.shape == (80,)
    assert not np.array_equal(Xte, Xtr[:80])
    # the test draw does not depend on the training size, and vice versa
    np.testing.assert_array_equal(make_split(name, 10, 80, seed=4)[2], Xte)
    np.testing.assert_array_equal(make_split(name, 150, 5, seed=4)[0], Xtr)


def test_rings_is_benchmark_workload_w1() -> None:
    # W1 (bench/workloads.py): 4 rings, radii 1-4, radial sd 0.1, 250 points each, label = ring % 2
    for seed in (0, 1):
        X, y = make("rings", 1000, seed=seed)
        r = radius(X)
        ring = np.rint(r).astype(int) - 1  # 5 sd margin: no point changes ring
        np.testing.assert_array_equal(np.bincount(ring, minlength=4), [250] * 4)
        np.testing.assert_array_equal(y, ring % 2)
        assert abs(np.std(r - (ring + 1)) - 0.1) < 0.01
        assert abs(np.mean(r - (ring + 1))) < 0.01


@pytest.mark.parametrize("k", [2, 3, 7])
def test_rings_k(k: int) -> None:
    X, y = make("rings", 700, noise=0.0, seed=0, k=k)
    r = radius(X)
    ring = np.rint(r).astype(int) - 1
    np.testing.assert_allclose(r, ring + 1)
    counts = np.bincount(ring, minlength=k)
    assert len(counts) == k and counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(y, ring % 2)


def test_circle_geometry_without_noise() -> None:
    X, y = make("circle", 2000, noise=0.0, seed=3)
    r = radius(X)
    assert (r[y == 1] < 1.0).all()
    assert ((r[y == 0] >= 1.4) & (r[y == 0] < 2.0)).all()


def test_spirals_geometry_without_noise() -> None:
    X, y = make("spirals", 1000, noise=0.0, seed=0, turns=2.0)
    r = radius(X)  # r = t
    assert r.max() <= 2.0
    theta = np.arctan2(X[:, 1], X[:, 0])
    # the point lies at angle 2 pi t + pi * label (mod 2 pi)
    diff = np.angle(np.exp(1j * (theta - 2 * np.pi * r - np.pi * y)))
    np.testing.assert_allclose(diff, 0.0, atol=1e-9)


def test_xor_geometry_without_noise() -> None:
    X, y = make("xor", 1000, noise=0.0, seed=0, margin=0.2)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(float))
    assert (np.abs(X) >= 0.2).all() and (np.abs(X) <= 1.0).all()
    quadrant = (X[:, 0] > 0) * 2 + (X[:, 1] > 0)
    assert np.bincount(quadrant).min() > 200  # all four quadrants populated


def test_gaussian_blobs_centres_and_spread() -> None:
    X, y = make("gaussian", 4000, noise=0.5, seed=0, separation=3.0)
    c = 3.0 / (2 * np.sqrt(2))
    np.testing.assert_allclose(X[y == 1].mean(0), [c, c], atol=0.05)
    np.testing.assert_allclose(X[y == 0].mean(0), [-c, -c], atol=0.05)
    np.testing.assert_allclose(X[y == 1].std(0), [0.5, 0.5], rtol=0.06)


def test_moons_geometry_without_noise() -> None:
    X, y = make("moons", 1000, noise=0.0, seed=0)
    P = X + datasets.MOONS_SHIFT
    upper, lower = P[y == 0], P[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert (upper[:, 1] >= 0).all()
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert (lower[:, 1] <= 0.5).all()
    np.testing.assert_allclose(X.mean(0), 0.0, atol=0.1)  # centred


@pytest.mark.parametrize(
    "target, rule",
    [
        ("sign", lambda x: x > 0),
        ("abs", lambda x: np.abs(x) > 0.5),
        ("sin", lambda x: np.sin(3 * np.pi * x) > 0),
    ],
)
def test_segment_targets(target: str, rule) -> None:
    X, y = make("segment", 1000, noise=0.0, seed=0, target=target)
    x = X[:, 0]
    assert (np.abs(x) <= 1).all()
    np.testing.assert_array_equal(y, rule(x).astype(float))
    assert y.sum() == 500
    # uniform on [-1, 1] overall: each quarter holds about a quarter of the points
    counts = np.histogram(x, bins=4, range=(-1, 1))[0]
    assert counts.min() > 200


def test_segment_sin_freq() -> None:
    X, y = make("segment", 1000, noise=0.0, seed=0, target="sin", freq=5)
    np.testing.assert_array_equal(y, (np.sin(5 * np.pi * X[:, 0]) > 0).astype(float))


@pytest.mark.parametrize(
    "target, f, lo, hi",
    [
        ("sinsinsin", lambda x: np.sin(np.sin(np.sin(x))) / np.sin(np.sin(1.0)), -np.pi, np.pi),
        ("cubic", lambda x: x**3 - x, -1.5, 1.5),
    ],
)
def test_regression1d_targets(target: str, f, lo: float, hi: float) -> None:
    assert dataset_info("regression1d")["task"] == "regression"
    X, y = make("regression1d", 2000, noise=0.0, seed=0, target=target)
    x = X[:, 0]
    assert lo <= x.min() and x.max() <= hi
    np.testing.assert_allclose(y, f(x))
    _, y_noisy = make("regression1d", 2000, noise=0.2, seed=0, target=target)
    assert abs(np.std(y_noisy - y) - 0.2) < 0.02


def test_sinsinsin_is_scaled_to_peak_one() -> None:
    _, y = make("regression1d", 5000, noise=0.0, seed=0)
    assert 0.99 < y.max() <= 1.0 and -1.0 <= y.min() < -0.99


@pytest.mark.parametrize("name", ["circle", "spirals", "moons", "gaussian", "regression1d"])
def test_noise_sweep_shares_the_clean_points(name: str) -> None:
    # the jitter is always drawn, so only its scale changes with the noise level
    X0, y0 = make(name, 300, noise=0.0, seed=5)
    X1, y1 = make(name, 300, noise=0.1, seed=5)
    X2, y2 = make(name, 300, noise=0.2, seed=5)
    if DATASETS[name].task == "regression":
        np.testing.assert_allclose(y2 - y0, 2 * (y1 - y0), atol=1e-12)
    else:
        np.testing.assert_array_equal(y0, y1)
        np.testing.assert_allclose(X2 - X0, 2 * (X1 - X0), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_noise_none_means_documented_default(name: str) -> None:
    default = dataset_info(name)["defaults"]["noise"]
    np.testing.assert_array_equal(make(name, 50, seed=1)[0], make(name, 50, default, 1)[0])


@pytest.mark.parametrize("name", NAMES)
def test_dataset_info(name: str) -> None:
    info = dataset_info(name)
    assert set(info) == {"name", "n_in", "task", "n_classes", "defaults", "description"}
    assert info["task"] in ("classification", "regression")
    assert info["defaults"]["noise"] >= 0
    assert set(info["defaults"]) == {"noise", *DATASETS[name].params}
    assert len(info["description"]) > 40


@pytest.mark.parametrize("name", NAMES)
def test_bounding_box_holds_clean_points(name: str) -> None:
    X, _ = make(name, 500, noise=0.0, seed=0)
    box = bounding_box(name, noise=0.0)
    assert box.shape == (X.shape[1], 2)
    assert (X >= box[:, 0] - 1e-12).all() and (X <= box[:, 1] + 1e-12).all()
    assert (bounding_box(name, noise=0.5)[:, 1] >= box[:, 1]).all()


def test_resolve_params_fills_defaults() -> None:
    assert datasets.resolve_params("rings") == (0.1, {"k": 4})
    assert datasets.resolve_params("segment", 0.2, target="abs") == (
        0.2,
        {"target": "abs", "freq": 3},
    )


def test_unknown_dataset_suggests_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'cirlce'; did you mean 'circle'\?"):
        make("cirlce", 10)
    with pytest.raises(ValueError, match=r"valid datasets: circle, rings, spirals"):
        make("zzz", 10)
    with pytest.raises(ValueError, match="did you mean 'rings'"):
        dataset_info("Rings")


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "10"])
def test_bad_n(n) -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        make("circle", n)


def test_bad_split_sizes() -> None:
    with pytest.raises(ValueError, match="n_train must be an integer >= 1"):
        make_split("circle", 0, 10)
    with pytest.raises(ValueError, match="n_test must be an integer >= 1"):
        make_split("circle", 10, 0)


@pytest.mark.parametrize("noise", [-0.1, float("nan"), float("inf"), "0.1"])
def test_bad_noise(noise) -> None:
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        make("circle", 10, noise=noise)


def test_bad_seed() -> None:
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        make("circle", 10, seed=-1)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("rings", {"kk": 3}, r"dataset 'rings' has no parameter 'kk'; did you mean 'k'\?"),
        ("circle", {"k": 3}, r"has no parameter 'k' accepted parameters: none"),
        ("rings", {"k": 1}, r"k \(number of rings\) must be an integer >= 2"),
        ("rings", {"k": 2.5}, r"k \(number of rings\) must be an integer >= 2"),
        ("spirals", {"turns": 0}, "turns must be a finite number > 0"),
        ("xor", {"margin": 1.0}, r"margin must be in \[0, 1\)"),
        ("gaussian", {"separation": -1.0}, "separation must be a finite number >= 0"),
        ("segment", {"target": "cos"}, "target must be one of 'sign', 'abs', 'sin'"),
        ("segment", {"target": "sin", "freq": 0}, "freq must be an integer >= 1"),
        ("regression1d", {"target": "quartic"}, "target must be one of 'sinsinsin', 'cubic'"),
    ],
)
def test_bad_params(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(name, 10, **params)
