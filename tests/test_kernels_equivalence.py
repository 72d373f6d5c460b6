"""Every public compiled kernel against its NumPy twin, over many random cases.

These are the tests that fail when a kernel and its reference disagree (try it:
change a sign in ``kernels/dense.py`` and watch them fail).
"""

from __future__ import annotations

import fastdepth.kernels as K
import numpy as np
import pytest
from fastdepth.kernels import reference as R

from tests.conftest import ACTS, assert_close, random_case

DTYPES = [np.float64, np.float32]
SEEDS = range(40)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_forward_backward_match_reference(seed, dtype):
    rng = np.random.default_rng(1000 + seed)
    layout, P, X, act, r = random_case(rng, dtype)
    Z, H = K.forward(P, layout, X, act, residual=r)
    Zr, Hr = R.forward(P, layout, X, act, residual=r)
    ctx = f"{act} widths={layout.widths} n={X.shape[1]} residual={r}"
    assert_close(Z, Zr, dtype, what=f"Z {ctx}")
    assert_close(H, Hr, dtype, what=f"H {ctx}")
    dout = rng.standard_normal((1, X.shape[1])).astype(dtype)
    g, D = K.backward(P, layout, X, Z, H, dout, act, residual=r)
    gr, Dr = R.backward(P, layout, X, Zr, Hr, dout, act, residual=r)
    assert_close(g, gr, dtype, what=f"grad {ctx}")
    assert_close(D, Dr, dtype, what=f"D {ctx}")
    assert g.dtype == dtype and D.dtype == dtype


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_activation_with_residual_blocks(act, dtype):
    rng = np.random.default_rng(7)
    layout = K.Layout(3, [12] * 6)
    P = (rng.standard_normal(layout.n_params) * 0.4).astype(dtype)
    X = rng.standard_normal((3, 45)).astype(dtype)
    for r in (0, 1, 2, 3):
        Z, H = K.forward(P, layout, X, act, residual=r)
        Zr, Hr = R.forward(P, layout, X, act, residual=r)
        assert_close(H, Hr, dtype, what=f"H {act} r={r}")
        dout = np.ones((1, 45), dtype)
        g, _ = K.backward(P, layout, X, Z, H, dout, act, residual=r)
        gr, _ = R.backward(P, layout, X, Zr, Hr, dout, act, residual=r)
        assert_close(g, gr, dtype, what=f"grad {act} r={r}")


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_and_derivative(act, dtype):
    z = np.concatenate([np.linspace(-30, 30, 601), [0.0, -0.0, 1e-300, -1e-300]]).astype(dtype)
    for alpha in (None, 0.2):
        if alpha is not None and act not in ("leaky_relu", "elu"):
            continue
        assert_close(K.activation(z, act, alpha), R.activation(z, act, alpha), dtype, what=act)
        assert_close(
            K.activation_grad(z, act, alpha), R.activation_grad(z, act, alpha), dtype, what=act
        )


def test_relu_mask_comes_from_the_pre_activation():
    z = np.array([-1.0, 0.0, 1e-12, 3.0])
    np.testing.assert_array_equal(K.activation_grad(z, "relu"), [0, 0, 1, 1])
    np.testing.assert_array_equal(K.activation(z, "relu"), [0, 0, 1e-12, 3.0])


def test_nan_propagates_through_activations():
    # Divergence detection relies on NaN surviving the compiled code (no fastmath nnan).
    z = np.array([np.nan, 1.0])
    for act in ACTS:
        assert np.isnan(K.activation(z, act)[0]), act


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(10))
def test_losses_and_accuracy(seed, dtype):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 5, 64, 1000]))
    z = (rng.standard_normal(n) * 10 ** rng.uniform(-2, 3)).astype(dtype)
    y = (rng.random(n) > 0.5).astype(dtype)
    lk, dk = K.bce_with_logits(z, y)
    lr, dr = R.bce_with_logits(z, y)
    # The float32 reference computes in float32; the kernel forms terms in float64.
    loss_tol = 1e-12 if dtype == np.float64 else 1e-5
    assert abs(lk - lr) <= loss_tol * max(1.0, abs(lr))
    assert_close(dk, dr, dtype)
    lk, dk = K.mse(z, y)
    lr, dr = R.mse(z, y)
    assert abs(lk - lr) <= loss_tol * max(1.0, abs(lr))
    assert_close(dk, dr, dtype)
    assert K.accuracy(z, y) == R.accuracy(z, y)


def test_bce_is_stable_for_huge_logits():
    z = np.array([800.0, -800.0, 0.0])
    y = np.array([1.0, 0.0, 1.0])
    loss, d = K.bce_with_logits(z, y)
    assert np.isfinite(loss) and abs(loss - np.log(2) / 3) < 1e-15
    np.testing.assert_allclose(d, [0.0, 0.0, -0.5 / 3], atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_steps_match_reference_over_many_steps(dtype):
    rng = np.random.default_rng(3)
    n = 257
    for wd in (0.0, 0.01):
        p_k = rng.standard_normal(n).astype(dtype)
        p_r = p_k.copy()
        bufs_k = [np.zeros(n, dtype) for _ in range(3)]
        bufs_r = [np.zeros(n, dtype) for _ in range(3)]
        for t in range(1, 301):
            g = rng.standard_normal(n).astype(dtype)
            which = t % 3
            if which == 0:
                K.sgd_step(p_k, g, 0.01, wd)
                R.sgd_step(p_r, g, 0.01, wd)
            elif which == 1:
                K.momentum_step(p_k, g, bufs_k[0], 0.01, 0.9, wd, t=(t + 2) // 3)
                R.momentum_step(p_r, g, bufs_r[0], 0.01, 0.9, wd, t=(t + 2) // 3)
            else:
                K.adam_step(p_k, g, bufs_k[1], bufs_k[2], t // 3 + 1, 1e-3, 0.9, 0.999, 1e-8, wd)
                R.adam_step(p_r, g, bufs_r[1], bufs_r[2], t // 3 + 1, 1e-3, 0.9, 0.999, 1e-8, wd)
        assert_close(p_k, p_r, dtype, what=f"wd={wd}")


def test_adam_matches_pytorch_formula_by_hand():
    # One Adam step from zero state: m = (1-b1) g, v = (1-b2) g^2, bias-corrected step
    # is lr * g / (|g| + eps * sqrt(1-b2)) = lr * sign(g) up to eps.
    p = np.array([1.0, -2.0])
    g = np.array([0.5, -4.0])
    m, v = np.zeros(2), np.zeros(2)
    K.adam_step(p, g, m, v, 1, 0.1)
    expected = np.array([1.0, -2.0]) - 0.1 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-15)


def test_momentum_buffer_starts_as_the_gradient():
    p, g, buf = np.array([1.0]), np.array([2.0]), np.array([123.0])
    K.momentum_step(p, g, buf, lr=0.5, momentum=0.9, t=1)
    assert buf[0] == 2.0 and p[0] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_grad_norm(dtype):
    rng = np.random.default_rng(5)
    g = rng.standard_normal(100).astype(dtype) * 10
    g2 = g.copy()
    assert abs(K.clip_grad_norm(g, 1.0) - R.clip_grad_norm(g2, 1.0)) < 1e-4
    assert_close(g, g2, dtype)
    assert np.linalg.norm(g.astype(np.float64)) <= 1.0 + 1e-5
    small = np.array([0.1, 0.1], dtype)
    K.clip_grad_norm(small, 1.0)
    np.testing.assert_array_equal(small, np.array([0.1, 0.1], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(15))
def test_diagnostics_match_reference(seed, dtype):
    rng = np.random.default_rng(500 + seed)
    layout, P, X, act, r = random_case(rng, dtype)
    Z, H = K.forward(P, layout, X, act, residual=r)
    g, D = K.backward(P, layout, X, Z, H, np.ones((1, X.shape[1]), dtype), act, residual=r)
    per_k, tot_k = K.layer_grad_norms(g, layout)
    per_r, tot_r = R.layer_grad_norms(g, layout)
    assert_close(per_k, per_r, np.float64)
    assert abs(tot_k - tot_r) <= 1e-12 * tot_r
    assert_close(K.signal_norms(D, layout), R.signal_norms(D, layout), np.float64)
    assert_close(K.activation_sq_means(H, layout), R.activation_sq_means(H, layout), np.float64)
    fk, bk = K.dead_fractions(Z, layout)
    fr, br = R.dead_fractions(Z, layout)
    np.testing.assert_array_equal(fk, fr)
    assert bk == br


SATURATING = ("tanh", "sigmoid")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(40))
def test_saturated_fractions_match_reference(seed, dtype):
    """Random networks scaled up until some units saturate, plus values at the bound."""
    rng = np.random.default_rng(700 + seed)
    layout, P, X, _, r = random_case(rng, dtype)
    act = SATURATING[seed % 2]
    P = (P * rng.choice([1.0, 4.0, 20.0])).astype(dtype)  # from none saturated to most
    _, H = K.forward(P, layout, X, act, residual=r)
    if seed % 5 == 0:  # units exactly at, just inside and just past the bound, and NaN
        c, half = (0.0, 1.0) if act == "tanh" else (0.5, 0.5)
        b = 0.99 * half
        edge = np.array([c + b, c - b, np.nextafter(c + b, 9), np.nextafter(c - b, -9), np.nan])
        H[: min(5, layout.n_units - 1), 0] = edge[: min(5, layout.n_units - 1)].astype(dtype)
    fk, bk = K.saturated_fractions(H, layout, act)
    fr, br = R.saturated_fractions(H, layout, act)
    np.testing.assert_array_equal(fk, fr)
    assert bk == br and fk.dtype == np.float64 and fk.shape == (layout.depth,)


def test_saturation_is_the_documented_bound():
    layout = K.Layout(1, [4])
    # tanh: |h| > 0.99 on every sample; sigmoid: |2h - 1| > 0.99 (h < 0.005 or h > 0.995)
    H = np.array([[0.995, -0.995, 0.999], [0.995, 0.99, 0.999], [0.5, 0.999, -1.0],
                  [np.nan, 0.999, 0.999], [0.0, 0.0, 0.0]])  # fmt: skip
    frac, full = K.saturated_fractions(H, layout, "tanh")
    np.testing.assert_array_equal(frac, [0.25])  # unit 0 only (0.99 is not > 0.99, NaN is not)
    assert not full
    S = np.array([[0.004, 0.996], [0.0049, 0.006], [0.9951, 0.9999], [0.001, 0.999],
                  [0.5, 0.5]])  # fmt: skip
    frac, full = K.saturated_fractions(S, layout, "sigmoid")
    np.testing.assert_array_equal(frac, [0.75])
    all_sat = np.vstack([np.full((4, 3), -0.9999), np.zeros((1, 3))])
    assert K.saturated_fractions(all_sat, layout, "tanh")[1]
    assert R.saturated_fractions(all_sat, layout, "tanh")[1]
    for bad in ("relu", "gelu"):
        for fn in (K.saturated_fractions, R.saturated_fractions):
            with pytest.raises(ValueError, match="saturation is measured for tanh, sigmoid"):
                fn(H, layout, bad)


def test_dead_fraction_and_born_dead():
    layout = K.Layout(2, [3, 2])
    P = np.zeros(layout.n_params)
    # hidden layer 0: unit 0 alive (w>0 on x0), units 1, 2 dead (bias -1)
    W0 = layout.weight_view(P, 0)
    W0[0, 0] = 1.0
    layout.bias_view(P, 0)[:] = [0.0, -1.0, -1.0]
    layout.bias_view(P, 1)[:] = [-1.0, -1.0]  # layer 1 entirely dead
    X = np.array([[1.0, 2.0], [0.5, -0.5]])
    Z, _ = K.forward(P, layout, X, "relu")
    frac, born = K.dead_fractions(Z, layout)
    np.testing.assert_allclose(frac, [2 / 3, 1.0])
    assert born


def test_permutation_matches_reference_and_depends_on_key_and_epoch():
    for key, epoch, n in [(0, 0, 1), (1, 0, 10), (2**64 - 1, 7, 1000), (12345, 3, 999)]:
        k = K.permutation(key, epoch, n)
        np.testing.assert_array_equal(k, R.permutation(key, epoch, n))
        np.testing.assert_array_equal(np.sort(k), np.arange(n))
    a = K.permutation(1, 0, 100)
    assert not np.array_equal(a, K.permutation(1, 1, 100))
    assert not np.array_equal(a, K.permutation(2, 0, 100))


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_gradient_blocks_and_sample_tails(dtype):
    # Weight gradients run square vector blocks (4 x 4 with AVX-512, 2 x 2 otherwise:
    # settings.BLOCKS), then single rows / columns, over whole vectors of samples (8
    # float64, 16 float32), then add the remaining samples; the affine kernels run wide,
    # narrow and overlapping narrow column blocks (n = 33 takes three narrow blocks of 4
    # after two wide ones of 12 with 16 registers). Every mix of remainders must agree
    # with the reference.
    rng = np.random.default_rng(11)
    for n_in in (1, 2, 5):
        for width in (1, 3, 4, 6, 17):
            for n in (1, 7, 8, 9, 16, 17, 33, 100):
                layout = K.Layout(n_in, [width, width])
                P = (rng.standard_normal(layout.n_params) * 0.5).astype(dtype)
                X = rng.standard_normal((n_in, n)).astype(dtype)
                Z, H = K.forward(P, layout, X, "relu")
                Zr, Hr = R.forward(P, layout, X, "relu")
                ctx = f"n_in={n_in} width={width} n={n}"
                assert_close(Z, Zr, dtype, what=f"Z {ctx}")
                dout = rng.standard_normal((1, n)).astype(dtype)
                g, D = K.backward(P, layout, X, Z, H, dout, "relu")
                gr, Dr = R.backward(P, layout, X, Zr, Hr, dout, "relu")
                assert_close(g, gr, dtype, what=f"grad {ctx}")
                assert_close(D, Dr, dtype, what=f"D {ctx}")


def test_scratch_buffers_start_on_a_cache_line_with_padded_zero_rows():
    import numba
    from fastdepth.kernels.buffers import padded_ld, padded_rows

    @numba.njit
    def probe(X, rows, n):
        ld = padded_ld(n, X)
        out = padded_rows(X, rows, n, ld)
        return out.ctypes.data % 64, ld, out

    for dtype, per_line in ((np.float64, 8), (np.float32, 16)):
        for n in (1, 7, 8, 9, 1000, 1001):
            X = np.arange(3 * n, dtype=dtype) + 1
            offset, ld, out = probe(X, 3, n)
            assert offset == 0 and ld % per_line == 0 and n <= ld < n + per_line
            rows = out.reshape(3, ld)
            np.testing.assert_array_equal(rows[:, :n], X.reshape(3, n))
            assert not rows[:, n:].any()
