"""Initialisers: variance of every scheme, orthogonality, draw order, determinism, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastdepth.kernels import forward
from fastdepth.kernels.layout import Layout, block_ends

from fastdepth.init import INIT_SCHEMES, RESIDUAL_INITS, init_params, weight_std

# Non-square layers so schemes using fan_in vs fan_in + fan_out are told apart. Each checked
# layer has >= 120k entries: the sample variance's relative sd is sqrt(2 / n) < 0.5%, so a
# 3% tolerance is ~7 sd wide (no flakes) yet catches any wrong formula (ratios >= 15%).
BIG = Layout(200, [600, 400])
CHECKED_LAYERS = (0, 1)  # 200x600 and 600x400; the 400x1 output layer is too small to test

EXPECTED_STD = {
    "he": lambda fi, fo: math.sqrt(2 / fi),
    "he_uniform": lambda fi, fo: math.sqrt(2 / fi),
    "xavier": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "xavier_uniform": lambda fi, fo: math.sqrt(2 / (fi + fo)),
    "lecun": lambda fi, fo: math.sqrt(1 / fi),
    "small": lambda fi, fo: 0.01,
    "playground": lambda fi, fo: 1 / math.sqrt(12),  # U(-0.5, 0.5)
    "orthogonal": lambda fi, fo: 1 / math.sqrt(max(fi, fo)),
}
ALIASES = {
    "kaiming": "he",
    "kaiming_uniform": "he_uniform",
    "glorot": "xavier",
    "glorot_uniform": "xavier_uniform",
}


def layer_weights(layout: Layout, flat: np.ndarray, k: int) -> np.ndarray:
    return layout.weight_view(flat, k)


def test_registry_has_every_scheme_and_alias() -> None:
    assert set(INIT_SCHEMES) == set(EXPECTED_STD) | set(ALIASES) | {"meanfield"}
    for alias, name in ALIASES.items():
        assert INIT_SCHEMES[alias] is INIT_SCHEMES[name]


@pytest.mark.parametrize("scheme", list(EXPECTED_STD))
def test_weight_variance_matches_formula(scheme: str) -> None:
    flat = init_params(BIG, scheme, rng=0)
    assert flat.shape == (BIG.n_params,) and flat.dtype == np.float64
    for k in CHECKED_LAYERS:
        w = layer_weights(BIG, flat, k)
        fi, fo = w.shape
        std = EXPECTED_STD[scheme](fi, fo)
        assert weight_std(scheme, fi, fo) == pytest.approx(std)
        assert np.var(w) == pytest.approx(std**2, rel=0.03), (scheme, k)
        assert abs(np.mean(w)) < 5 * std / math.sqrt(w.size)


@pytest.mark.parametrize("scheme", ["he", "xavier", "lecun", "small", "orthogonal"])
def test_gain_scales_weights(scheme: str) -> None:
    lay = Layout(3, [8, 8])
    base = init_params(lay, scheme, rng=1)
    np.testing.assert_allclose(init_params(lay, scheme, rng=1, gain=2.5), 2.5 * base, rtol=1e-14)


@pytest.mark.parametrize("scheme", ["he_uniform", "xavier_uniform", "playground"])
def test_uniform_schemes_respect_their_bounds(scheme: str) -> None:
    flat = init_params(BIG, scheme, rng=2)
    for k in CHECKED_LAYERS:
        w = layer_weights(BIG, flat, k)
        bound = math.sqrt(3) * EXPECTED_STD[scheme](*w.shape)
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.99 * bound  # fills the interval


def test_playground_matches_tensorflow_playground() -> None:
    lay = Layout(2, [4, 4])
    flat = init_params(lay, "playground", rng=3)
    for k in range(lay.n_layers):
        w = lay.weight_view(flat, k)
        assert (w >= -0.5).all() and (w < 0.5).all()
        np.testing.assert_array_equal(lay.bias_view(flat, k), 0.1)  # Playground's bias


@pytest.mark.parametrize("scheme", sorted(set(EXPECTED_STD) - {"playground"}))
def test_biases_are_zero(scheme: str) -> None:
    lay = Layout(2, [5, 3])
    flat = init_params(lay, scheme, rng=4)
    for k in range(lay.n_layers):
        np.testing.assert_array_equal(lay.bias_view(flat, k), 0.0)
        assert np.all(lay.weight_view(flat, k) != 0.0)


@pytest.mark.parametrize("n_in, widths", [(3, [8, 8, 5]), (2, [16, 16]), (40, [10, 30])])
@pytest.mark.parametrize("gain", [None, math.sqrt(2)])
def test_orthogonal_columns_or_rows(n_in: int, widths: list[int], gain: float | None) -> None:
    lay = Layout(n_in, widths)
    flat = init_params(lay, "orthogonal", rng=5, gain=gain)
    g2 = 1.0 if gain is None else gain**2
    for k in range(lay.n_layers):
        w = lay.weight_view(flat, k)
        fi, fo = w.shape
        gram = w.T @ w if fi >= fo else w @ w.T  # tall: orthonormal columns; wide: rows
        np.testing.assert_allclose(gram, g2 * np.eye(min(fi, fo)), atol=1e-12)


def test_orthogonal_is_not_biased_by_qr_sign_convention() -> None:
    # without the sign correction, diag(R) > 0 skews the diagonal of Q positive
    diag = [
        np.diag(init_params(Layout(8, [8]), "orthogonal", rng=s)[:64].reshape(8, 8))
        for s in range(200)
    ]
    assert abs(np.mean(diag)) < 0.03


def test_meanfield_variances() -> None:
    flat = init_params(BIG, "meanfield", rng=6, sigma_w2=1.7, sigma_b2=0.3)
    for k in CHECKED_LAYERS:
        w = BIG.weight_view(flat, k)
        assert np.var(w) == pytest.approx(1.7 / w.shape[0], rel=0.03)
    b = np.concatenate([BIG.bias_view(flat, k) for k in CHECKED_LAYERS])  # 1000 biases
    assert np.var(b) == pytest.approx(0.3, rel=0.2)
    assert weight_std("meanfield", 200, 600, sigma_w2=1.7) == pytest.approx(math.sqrt(1.7 / 200))


def test_meanfield_sigma_b2_defaults_to_zero_and_keeps_weights() -> None:
    lay = Layout(2, [6, 6])
    a = init_params(lay, "meanfield", rng=7, sigma_w2=2.0)
    b = init_params(lay, "meanfield", rng=7, sigma_w2=2.0, sigma_b2=0.5)
    for k in range(lay.n_layers):
        np.testing.assert_array_equal(lay.bias_view(a, k), 0.0)
        # a sigma_b2 sweep shares its weights: bias draws are made even when sigma_b2 == 0
        np.testing.assert_array_equal(lay.weight_view(a, k), lay.weight_view(b, k))
    assert np.var(np.concatenate([lay.bias_view(b, k) for k in range(2)])) > 0


def test_draw_order_is_layer_by_layer_weights_row_major() -> None:
    # The documented contract the NumPy reference relies on: W0, W1, ..., each (fan_in,
    # fan_out) row-major from one stream; zero-bias schemes draw nothing for b.
    lay = Layout(2, [3, 4])
    flat = init_params(lay, "he", rng=11)
    rng = np.random.default_rng(11)
    for k, (fi, fo) in enumerate([(2, 3), (3, 4), (4, 1)]):
        expected = math.sqrt(2 / fi) * rng.standard_normal((fi, fo))
        np.testing.assert_array_equal(lay.weight_view(flat, k), expected)


def test_deterministic_and_seed_sensitive() -> None:
    lay = Layout(2, [16, 16, 16])
    a = init_params(lay, "he", rng=42)
    np.testing.assert_array_equal(a, init_params(lay, "he", rng=42))
    np.testing.assert_array_equal(a, init_params(lay, "he", rng=np.random.default_rng(42)))
    assert not np.array_equal(a, init_params(lay, "he", rng=43))
    assert init_params(lay, "he").shape == a.shape  # rng=None: fresh entropy


def test_generator_is_advanced_in_place() -> None:
    lay = Layout(2, [4])
    rng = np.random.default_rng(0)
    first, second = init_params(lay, "he", rng), init_params(lay, "he", rng)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("alias, name", list(ALIASES.items()))
def test_aliases_draw_identically(alias: str, name: str) -> None:
    lay = Layout(2, [8, 8])
    np.testing.assert_array_equal(init_params(lay, alias, rng=9), init_params(lay, name, rng=9))


@pytest.mark.parametrize("scheme", ["he", "orthogonal", "playground"])
def test_float32_is_float64_rounded(scheme: str) -> None:
    lay = Layout(2, [16, 16])
    f64 = init_params(lay, scheme, rng=3)
    f32 = init_params(lay, scheme, rng=3, dtype=np.float32)
    assert f32.dtype == np.float32
    np.testing.assert_array_equal(f32, f64.astype(np.float32))
    assert init_params(lay, scheme, rng=3, dtype="float32").dtype == np.float32


def test_small_init_kills_deep_relu_signal_he_keeps_it() -> None:
    # why 'small' exists: the signal of a deep ReLU net vanishes, He keeps it O(1)
    lay = Layout(2, [64] * 10)
    x = np.random.default_rng(0).standard_normal((256, 2))

    def last_hidden_rms(flat: np.ndarray) -> float:
        h = x
        for k in range(lay.n_layers - 1):
            h = np.maximum(h @ lay.weight_view(flat, k) + lay.bias_view(flat, k), 0.0)
        return float(np.sqrt(np.mean(h**2)))

    assert last_hidden_rms(init_params(lay, "small", rng=0)) < 1e-12
    assert 0.1 < last_hidden_rms(init_params(lay, "he", rng=0)) < 10


def test_unknown_scheme_suggests_closest() -> None:
    lay = Layout(2, [4])
    with pytest.raises(ValueError, match=r"unknown init scheme 'xavire'; did you mean 'xavier'\?"):
        init_params(lay, "xavire")
    with pytest.raises(ValueError, match="valid schemes: he, kaiming, he_uniform"):
        init_params(lay, "nope")
    with pytest.raises(ValueError, match="did you mean 'he'"):
        weight_std("HE", 2, 2)


@pytest.mark.parametrize(
    "scheme, kwargs, match",
    [
        ("meanfield", {}, "init='meanfield' needs sigma_w2"),
        ("meanfield", {"sigma_w2": 0.0}, "sigma_w2 must be a finite number > 0"),
        ("meanfield", {"sigma_w2": 1.0, "sigma_b2": -1.0}, "sigma_b2 must be a finite number >= 0"),
        ("meanfield", {"sigma_w2": 1.0, "gain": 2.0}, "takes sigma_w2 .*not gain"),
        ("he", {"sigma_w2": 2.0}, "sigma_w2 / sigma_b2 only apply to init='meanfield'"),
        ("xavier", {"sigma_b2": 0.1}, "sigma_w2 / sigma_b2 only apply to init='meanfield'"),
        ("he", {"gain": 0.0}, "gain must be a finite number > 0"),
        ("he", {"gain": float("nan")}, "gain must be a finite number > 0"),
        ("he", {"dtype": np.int32}, "dtype must be a floating type"),
        ("he", {"residual_init": "zero"}, "only applies to residual networks"),
        ("he", {"residual": 2, "residual_init": "fixup"}, "unknown residual_init 'fixup'"),
    ],
)
def test_invalid_arguments(scheme: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        init_params(Layout(2, [4]), scheme, rng=0, **kwargs)


# ----------------------------------------------------------------------------- residual init


def test_block_ends_follow_the_kernels_skip_rule() -> None:
    assert block_ends(7, 2) == [2, 4, 6]
    assert block_ends(6, 2) == [2, 4]  # hidden layer 5 is a plain leftover
    assert block_ends(2, 2) == []  # too shallow for a block
    assert block_ends(5, 1) == [1, 2, 3, 4]
    assert block_ends(5, 0) == []


def _stream(flat: np.ndarray, lay: Layout, x: np.ndarray, residual: int) -> np.ndarray:
    """Hidden activations (n_units, n) of the compiled forward pass."""
    return forward(flat, lay, np.ascontiguousarray(x.T), "relu", residual=residual)[1]


def test_zero_residual_init_makes_every_block_the_identity() -> None:
    # relu(0 + h_in) == h_in exactly for h_in >= 0: the net is its first layer + the head
    lay = Layout(2, [16] * 9)
    x = np.random.default_rng(1).standard_normal((50, 2))
    H = _stream(init_params(lay, "he", rng=3, residual=2, residual_init="zero"), lay, x, 2)
    rows = [slice(16 * k, 16 * (k + 1)) for k in range(9)]
    for e in block_ends(9, 2):
        np.testing.assert_array_equal(H[rows[e]], H[rows[e - 2]])
    assert np.all(H[rows[0]] >= 0) and H[rows[0]].any()


def test_scaled_residual_init_tames_the_stream_growth() -> None:
    # Under He init each block multiplies the stream's second moment by ~2.4 (the branch
    # adds about twice the input's, relu(z + h) with h >= 0 keeps over half): 2.4^10 ~ 6000
    # for 10 blocks with 'none'. The 1/sqrt(B) branch scale keeps the total O(1) in B
    # (measured median 4.6, relative sd 18%). Width 128, 20 seeds; the regimes are 1000x apart.
    lay = Layout(2, [128] * 21)
    x = np.random.default_rng(0).standard_normal((256, 2))

    def growth(ri: str) -> float:
        ratios = []
        for seed in range(20):
            H = _stream(init_params(lay, "he", rng=seed, residual=2, residual_init=ri), lay, x, 2)
            ratios.append(np.mean(H[128 * 20 : 128 * 21] ** 2) / np.mean(H[:128] ** 2))
        return float(np.median(ratios))

    assert growth("none") > 2**10
    assert 1.5 < growth("scaled") < 8
    assert growth("zero") == 1.0


@pytest.mark.parametrize("ri", sorted(RESIDUAL_INITS))
def test_residual_init_keeps_the_random_stream(ri: str) -> None:
    # Only block ends change, after the draws: every other layer equals 'none', and the
    # generator ends in the same state.
    lay = Layout(3, [8] * 6)
    g0, g1 = np.random.default_rng(5), np.random.default_rng(5)
    a = lay.unpack(init_params(lay, "he", g0, residual=2))
    b = lay.unpack(init_params(lay, "he", g1, residual=2, residual_init=ri))
    assert g0.random() == g1.random()
    for k in range(lay.n_layers):
        if k not in block_ends(6, 2):
            np.testing.assert_array_equal(a[k][0], b[k][0])
