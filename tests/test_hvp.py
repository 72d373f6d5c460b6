"""Hessian-vector products: the reference against finite differences of its gradient, the
compiled kernel against the reference, the second derivatives, and bad input."""

from __future__ import annotations

import fastdepth.kernels as K
import numpy as np
import pytest
from fastdepth.kernels import reference as R
from fastdepth.kernels.hessian import ERR_CODE, hessian_prepare, workspace_size
from fastdepth.kernels.second_derivatives import loss_second_flat, scale_by_second_derivative
from fastdepth.kernels.settings import ACTIVATIONS, LOSSES

from tests.conftest import ACTS, assert_close, random_case

LOSS_NAMES = sorted(LOSSES)
KINKED = ("relu", "leaky_relu", "elu")
H_STEP = 1e-5


def _targets(rng, loss, n, dtype=np.float64):
    y = (rng.random(n) > 0.5) if loss == "bce" else rng.standard_normal(n)
    return y.astype(dtype)


def _grad(P, layout, X, y, act, r, loss):
    Z, H = R.forward(P, layout, X, act, residual=r)
    fn = R.bce_with_logits if loss == "bce" else R.mse
    _, dout = fn(np.ascontiguousarray(Z[-1]), y)
    return R.backward(P, layout, X, Z, H, dout[None, :], act, residual=r)[0], Z


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("residual", [0, 1, 2])
@pytest.mark.parametrize("act", ACTS)
def test_reference_hvp_matches_central_differences_of_the_gradient(act, residual, loss, rng):
    # (g(P + h v) - g(P - h v)) / 2h = H v + O(h^2): ~1e-9 relative at h = 1e-5; any wrong
    # term of the R-operator is O(1).
    layout = K.Layout(2, [5, 5, 5, 5])
    P = rng.standard_normal(layout.n_params) * 0.7
    X = rng.standard_normal((2, 9))
    y = _targets(rng, loss, 9)
    v = rng.standard_normal(layout.n_params)
    g_plus, z_plus = _grad(P + H_STEP * v, layout, X, y, act, residual, loss)
    g_minus, z_minus = _grad(P - H_STEP * v, layout, X, y, act, residual, loss)
    if act in KINKED:
        # A difference across a kink measures nothing: no pre-activation may change sign.
        assert np.array_equal(z_plus > 0, z_minus > 0)
    fd = (g_plus - g_minus) / (2 * H_STEP)
    hv = R.hvp(P, layout, X, y, v, act, loss, residual=residual)
    err = np.linalg.norm(hv - fd) / np.linalg.norm(fd)
    assert err < 1e-6, f"relative error {err:.2e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(40))
def test_compiled_hvp_matches_reference(seed, dtype):
    rng = np.random.default_rng(3000 + seed)
    layout, P, X, act, r = random_case(rng, dtype)
    loss = LOSS_NAMES[seed % 2]
    y = _targets(rng, loss, X.shape[1], dtype)
    v = rng.standard_normal(layout.n_params).astype(dtype)
    hv = K.hvp(P, layout, X, y, v, act, loss, residual=r)
    hr = R.hvp(P, layout, X, y, v, act, loss, residual=r)
    ctx = f"{act} {loss} widths={layout.widths} n={X.shape[1]} residual={r}"
    assert hv.dtype == dtype
    assert_close(hv, hr, dtype, rtol=1e-12 if dtype == np.float64 else 1e-4, what=ctx)


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("act", ACTS)
def test_every_activation_loss_and_residual_block(act, loss):
    rng = np.random.default_rng(17)
    layout = K.Layout(3, [12] * 6)
    P = rng.standard_normal(layout.n_params) * 0.4
    X = rng.standard_normal((3, 45))
    y = _targets(rng, loss, 45)
    v = rng.standard_normal(layout.n_params)
    for r in (0, 1, 2, 3):
        hv = K.hvp(P, layout, X, y, v, act, loss, residual=r)
        assert_close(hv, R.hvp(P, layout, X, y, v, act, loss, residual=r), what=f"r={r}")
    for alpha in (0.2, 2.0):
        if act in ("leaky_relu", "elu"):
            hv = K.hvp(P, layout, X, y, v, act, loss, alpha=alpha)
            assert_close(hv, R.hvp(P, layout, X, y, v, act, loss, alpha=alpha))


def test_sample_tails_and_blocks_of_every_width():
    # The stacked operands run the affine kernels with 2 fan_in / 2 fan_out reductions and
    # the weight gradients over every remainder of rows, columns and samples.
    rng = np.random.default_rng(5)
    for width in (1, 3, 4, 5, 9):
        for n in (1, 7, 8, 9, 17, 33, 100):
            for dtype in (np.float64, np.float32):
                layout = K.Layout(2, [width, width, width])
                P = (rng.standard_normal(layout.n_params) * 0.6).astype(dtype)
                X = rng.standard_normal((2, n)).astype(dtype)
                y = _targets(rng, "bce", n, dtype)
                v = rng.standard_normal(layout.n_params).astype(dtype)
                hv = K.hvp(P, layout, X, y, v, "tanh", "bce", residual=1)
                hr = R.hvp(P, layout, X, y, v, "tanh", "bce", residual=1)
                tol = 1e-12 if dtype == np.float64 else 1e-4
                assert_close(hv, hr, dtype, rtol=tol, what=f"width={width} n={n}")


@pytest.mark.parametrize("act", ["tanh", "relu", "gelu"])
def test_hessian_from_products_is_symmetric(act):
    # The product is the derivative of a gradient, so the matrix of e_i columns must be
    # symmetric to rounding: a missing cross term (Rh d^T, dW d) breaks the symmetry.
    rng = np.random.default_rng(8)
    layout = K.Layout(2, [4, 4])
    P = rng.standard_normal(layout.n_params)
    X = rng.standard_normal((2, 13))
    y = _targets(rng, "bce", 13)
    Hm = np.column_stack([K.hvp(P, layout, X, y, e, act, "bce") for e in np.eye(layout.n_params)])
    assert np.abs(Hm - Hm.T).max() <= 1e-13 * np.abs(Hm).max()


def test_output_buffer_is_written_and_returned():
    rng = np.random.default_rng(1)
    layout = K.Layout(2, [3])
    P, X = rng.standard_normal(layout.n_params), rng.standard_normal((2, 5))
    y, v = _targets(rng, "bce", 5), rng.standard_normal(layout.n_params)
    for B in (K, R):
        out = np.full(layout.n_params, np.nan)
        assert B.hvp(P, layout, X, y, v, "relu", "bce", out=out) is out
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize("B", [K, R])
def test_relu_at_zero_counts_as_inactive(B):
    # z = 0 for every sample (zero weights and bias into the hidden unit): relu' = relu'' = 0
    # there, so the unit's incoming weight has a zero Hessian column; leaky_relu keeps
    # slope alpha and so a nonzero one.
    layout = K.Layout(1, [1])
    P = np.zeros(layout.n_params)
    layout.weight_view(P, 1)[...] = 1.5
    X = np.array([[1.0, -2.0, 0.5]])
    y = np.array([1.0, 0.0, 1.0])
    e_w0 = np.zeros(layout.n_params)
    e_w0[0] = 1.0
    np.testing.assert_array_equal(B.hvp(P, layout, X, y, e_w0, "relu", "mse"), 0.0)
    assert np.any(B.hvp(P, layout, X, y, e_w0, "leaky_relu", "mse") != 0)


@pytest.mark.parametrize("act", ACTS)
def test_second_derivatives_match_differences_of_the_first(act):
    z = np.linspace(-4, 4, 81) + 0.0123  # clear of the kink at 0
    fd = (R.activation_grad(z + H_STEP, act) - R.activation_grad(z - H_STEP, act)) / (2 * H_STEP)
    code = ACTIVATIONS[act]
    alpha = 0.01 if act == "leaky_relu" else 1.0
    np.testing.assert_allclose(R._d2act(z, code, alpha), fd, rtol=1e-6, atol=1e-8)
    for dtype in (np.float64, np.float32):
        zd = np.concatenate([np.linspace(-30, 30, 601), [0.0, -0.0]]).astype(dtype)
        g = np.ones_like(zd)
        assert scale_by_second_derivative(zd, 0, g, 0, zd.size, code, alpha) == 0
        assert_close(g, R._d2act(zd, code, alpha), dtype, what=act)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_loss_second_derivative_matches_differences_of_the_gradient(loss):
    z = np.concatenate([np.linspace(-40, 40, 161), [0.0, 800.0, -800.0]])
    y = np.zeros_like(z)
    fn = R.bce_with_logits if loss == "bce" else R.mse
    fd = (fn(z + H_STEP, y)[1] - fn(z - H_STEP, y)[1]) / (2 * H_STEP)
    d2 = np.empty_like(z)
    assert loss_second_flat(LOSSES[loss], z, 0, z.size, d2, 0) == 0
    # Where l'' ~ 0 the difference of two gradients near 1 / n cancels to ~eps / h / n.
    np.testing.assert_allclose(d2, fd, rtol=1e-6, atol=1e-10 / z.size)
    assert_close(d2, R._d2loss(z, LOSSES[loss]) / z.size)


def test_unknown_codes_are_errors_not_another_branch():
    z = np.linspace(-1, 1, 8)
    g = np.ones_like(z)
    bad_act, bad_loss = len(ACTIVATIONS), len(LOSSES)
    assert scale_by_second_derivative(z, 0, g, 0, z.size, bad_act, 0.0) == 1
    np.testing.assert_array_equal(g, 1.0)  # untouched
    assert loss_second_flat(bad_loss, z, 0, z.size, g, 0) == 1
    with pytest.raises(ValueError, match="no second derivative"):
        R._d2act(z, bad_act, 0.0)
    with pytest.raises(ValueError, match="no second derivative"):
        R._d2loss(z, bad_loss)
    layout = K.Layout(1, [2])
    P = np.ones(layout.n_params)
    table = layout.table.copy()
    ws = np.zeros(workspace_size(table, 8, layout.n_params))
    X, y = np.ones(8), np.ones(8)
    for act, loss in ((bad_act, 0), (1, bad_loss)):
        _, err = hessian_prepare(P, table, X, y, 8, 8, act, 0.0, 0, loss, ws, np.empty(8))
        assert err == ERR_CODE


@pytest.mark.parametrize("B", [K, R])
def test_bad_input_is_refused_before_any_kernel_runs(B):
    rng = np.random.default_rng(0)
    layout = K.Layout(2, [4, 4])
    P, X = rng.standard_normal(layout.n_params), rng.standard_normal((2, 10))
    y, v = _targets(rng, "bce", 10), rng.standard_normal(layout.n_params)
    with pytest.raises(ValueError, match=r"unknown loss 'bc'.*Did you mean 'bce'"):
        B.hvp(P, layout, X, y, v, "relu", "bc")
    with pytest.raises(ValueError, match=r"unknown activation 'rleu'.*Did you mean 'relu'"):
        B.hvp(P, layout, X, y, v, "rleu", "bce")
    with pytest.raises(ValueError, match=r"v must have shape \(37,\)"):
        B.hvp(P, layout, X, y, v[:-1], "relu", "bce")
    with pytest.raises(ValueError, match=r"y must have shape \(10,\)"):
        B.hvp(P, layout, X, y[:-1], v, "relu", "bce")
    with pytest.raises(TypeError, match="share one dtype"):
        B.hvp(P, layout, X, y, v.astype(np.float32), "relu", "bce")
    with pytest.raises(ValueError, match="v contains 1 NaN"):
        B.hvp(P, layout, X, y, np.where(np.arange(37) == 3, np.nan, v), "relu", "bce")
    with pytest.raises(ValueError, match=r"out must have shape"):
        B.hvp(P, layout, X, y, v, "relu", "bce", out=np.empty(36))
    with pytest.raises(ValueError, match="feature-major"):
        B.hvp(P, layout, np.ascontiguousarray(X.T), y, v, "relu", "bce")
    with pytest.raises(ValueError, match="residual connections need equal widths"):
        B.hvp(*_two_widths(rng), "relu", "bce", residual=1)
    wide = K.Layout(2, [4], n_out=2)
    with pytest.raises(ValueError, match="one output unit"):
        B.hvp(np.zeros(wide.n_params), wide, X, y, np.zeros(wide.n_params), "relu", "bce")


def _two_widths(rng):
    layout = K.Layout(2, [4, 3])
    n = layout.n_params
    return rng.standard_normal(n), layout, rng.standard_normal((2, 5)), np.ones(5), np.ones(n)
