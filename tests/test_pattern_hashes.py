"""The activation-pattern hash kernel against its NumPy twin, and the twin against its spec."""

from __future__ import annotations

import fastdepth.kernels as K
import numpy as np
import pytest
from fastdepth.kernels import reference as R
from fastdepth.kernels.regions import BLOCK

from tests.conftest import ACTS, random_case

SEEDS = range(40)


def _near_a_cut(Z, n_hidden, cuts, tol):
    """Points where some hidden pre-activation is within ``tol`` of a cut."""
    if len(cuts) == 0:
        return np.zeros(Z.shape[1], dtype=bool)
    z = Z[:n_hidden].astype(np.float64)
    return np.any(np.abs(z[:, :, None] - np.asarray(cuts)) <= tol, axis=(0, 2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", SEEDS)
def test_compiled_hashes_equal_the_reference(seed, dtype):
    rng = np.random.default_rng(5000 + seed)
    layout, P, X, act, r = random_case(rng, dtype)
    if seed % 4 == 0:  # more points than a block, a ragged last block
        X = rng.standard_normal((layout.n_in, BLOCK + int(rng.integers(1, BLOCK)))).astype(dtype)
    m = int(rng.integers(0, 4))
    cuts = np.sort(rng.standard_normal(m)) if seed % 5 else np.zeros(min(m, 1))
    h = K.pattern_hashes(P, layout, X, cuts, act, residual=r)
    hr = R.pattern_hashes(P, layout, X, cuts, act, residual=r)
    assert h.dtype == np.uint64 and h.shape == (X.shape[1],)
    # The two forward passes round differently (~1 ulp per layer); a point whose
    # pre-activation sits that close to a cut may land on either side, nothing else may.
    Zr, _ = R.forward(P, layout, X, act, residual=r)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    differ = h != hr
    ctx = f"{act} widths={layout.widths} n={X.shape[1]} r={r} cuts={cuts}"
    assert not np.any(differ & ~_near_a_cut(Zr, sum(layout.widths), cuts, tol)), ctx


@pytest.mark.parametrize("act", ACTS)
def test_every_activation_with_residual_blocks(act):
    rng = np.random.default_rng(3)
    layout = K.Layout(2, [12] * 7)  # 84 hidden units: two hash words
    P = rng.standard_normal(layout.n_params) * 0.5
    X = rng.standard_normal((2, 700))
    for r in (0, 1, 2, 3):
        for cuts in ([0.0], [-0.5, 0.25], []):
            h = K.pattern_hashes(P, layout, X, cuts, act, residual=r)
            np.testing.assert_array_equal(h, R.pattern_hashes(P, layout, X, cuts, act, residual=r))


def _spec_hash(pieces: np.ndarray, bits: int) -> int:
    """The encoding of the kernels.regions docstring, in Python integers."""
    stream = [(int(p) >> b) & 1 for p in pieces for b in range(bits)]
    h = 0
    for j in range(max(1, -(-len(stream) // 64))):
        word = sum(bit << i for i, bit in enumerate(stream[64 * j : 64 * j + 64]))
        h = R._splitmix64(h ^ word)
    return h


@pytest.mark.parametrize("widths,cuts", [([5, 3], [0.0]), ([40, 30], [0.0]), ([9], [-1, 0, 1])])
def test_reference_follows_the_documented_encoding(widths, cuts):
    rng = np.random.default_rng(11)
    layout = K.Layout(2, widths)
    P = rng.standard_normal(layout.n_params)
    X = rng.standard_normal((2, 50))
    Z, _ = R.forward(P, layout, X, "relu")
    h = R.pattern_hashes(P, layout, X, cuts, "relu")
    pieces = (Z[: sum(widths), :, None] > np.array(cuts, dtype=float)).sum(axis=2)
    bits = len(cuts).bit_length()
    assert [int(v) for v in h] == [_spec_hash(pieces[:, s], bits) for s in range(50)]


def test_equal_hashes_mean_equal_patterns_up_to_64_units():
    rng = np.random.default_rng(2)
    layout = K.Layout(2, [16] * 4)  # 64 units: one word, and splitmix64 is a bijection
    P = rng.standard_normal(layout.n_params) * 0.6
    X = rng.uniform(-3, 3, (2, 20000))
    Z, _ = K.forward(P, layout, X, "relu")
    rows = np.unique(Z[:64] > 0, axis=1).shape[1]
    assert np.unique(K.pattern_hashes(P, layout, X, [0.0])).size == rows > 100


def test_linear_activation_gives_one_hash():
    layout = K.Layout(2, [6, 6])
    P = np.random.default_rng(0).standard_normal(layout.n_params)
    X = np.random.default_rng(1).standard_normal((2, 300))
    assert np.unique(K.pattern_hashes(P, layout, X, [], "identity")).size == 1


@pytest.mark.parametrize("B", [K, R])
def test_bad_cuts_and_out_are_refused(B):
    layout = K.Layout(2, [4])
    P = np.zeros(layout.n_params)
    X = np.zeros((2, 5))
    with pytest.raises(ValueError, match="strictly increasing"):
        B.pattern_hashes(P, layout, X, [1.0, 0.0])
    with pytest.raises(ValueError, match="1-D array of at most"):
        B.pattern_hashes(P, layout, X, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="at most 7"):
        B.pattern_hashes(P, layout, X, np.arange(8.0))
    with pytest.raises(ValueError, match="uint64"):
        B.pattern_hashes(P, layout, X, [0.0], out=np.empty(5))
    with pytest.raises(ValueError, match="unknown activation 'rleu'"):
        B.pattern_hashes(P, layout, X, [0.0], "rleu")
    with pytest.raises(ValueError, match="feature-major"):
        B.pattern_hashes(P, layout, np.zeros((5, 2)), [0.0])
