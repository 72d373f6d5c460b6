"""The reference is the spec, so it is checked independently: central finite differences.

float64, step 1e-6: truncation error ~h^2 and rounding ~eps/h give ~1e-9 relative;
we demand 1e-6 normwise, which still catches any wrong term (those are O(1)).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from fastdepth.kernels import Layout
from fastdepth.kernels import reference as R
from fastdepth.kernels.vocab import LOSSES

from tests.conftest import ACTS

H_STEP = 1e-6
# Every loss of the table must be listed here (KeyError otherwise): no silent default.
LOSS_FNS = {"bce": R.bce_with_logits, "mse": R.mse}


def _loss(P, layout, X, y, act, r, loss):
    Z, _ = R.forward(P, layout, X, act, residual=r)
    fn = LOSS_FNS[loss]
    return fn(np.ascontiguousarray(Z[-1]), y)[0]


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("residual", [0, 1, 2])
@pytest.mark.parametrize("act", ACTS)
def test_reference_gradient_matches_finite_differences(act, residual, loss):
    rng = np.random.default_rng(zlib.crc32(f"{act}/{residual}/{loss}".encode()))
    layout = Layout(2, [5, 5, 5, 5])
    P = rng.standard_normal(layout.n_params) * 0.7
    X = rng.standard_normal((2, 9))
    y = (rng.random(9) > 0.5).astype(float) if loss == "bce" else rng.standard_normal(9)
    Z, H = R.forward(P, layout, X, act, residual=residual)
    fn = LOSS_FNS[loss]
    _, dout = fn(np.ascontiguousarray(Z[-1]), y)
    grad, _ = R.backward(P, layout, X, Z, H, dout[None, :], act, residual=residual)
    if act in ("relu", "leaky_relu", "elu"):
        # Finite differences across a kink are meaningless: keep clear of z = 0.
        assert np.min(np.abs(Z)) > 10 * H_STEP
    fd = np.empty_like(P)
    for i in range(P.size):
        e = np.zeros_like(P)
        e[i] = H_STEP
        fd[i] = (
            _loss(P + e, layout, X, y, act, residual, loss)
            - _loss(P - e, layout, X, y, act, residual, loss)
        ) / (2 * H_STEP)
    err = np.linalg.norm(grad - fd) / np.linalg.norm(fd)
    assert err < 1e-6, f"relative error {err:.2e}"


@pytest.mark.parametrize("act", ACTS)
def test_reference_activation_derivative_matches_finite_differences(act):
    z = np.linspace(-4, 4, 81) + 0.0123  # avoid z = 0 exactly (kinks)
    fd = (R.activation(z + H_STEP, act) - R.activation(z - H_STEP, act)) / (2 * H_STEP)
    np.testing.assert_allclose(R.activation_grad(z, act), fd, rtol=1e-6, atol=1e-8)


def test_residual_block_is_the_classic_two_layer_block():
    # relu(x + W2 relu(W1 x + b1) + b2) for hidden layers 1 and 2, input h0.
    rng = np.random.default_rng(0)
    layout = Layout(3, [4, 4, 4])
    P = rng.standard_normal(layout.n_params)
    X = rng.standard_normal((3, 6))
    _, H = R.forward(P, layout, X, "relu", residual=2)
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    W = [layout.weight_view(P, k) for k in range(4)]
    b = [layout.bias_view(P, k)[:, None] for k in range(4)]
    h0 = relu(W[0].T @ X + b[0])
    h1 = relu(W[1].T @ h0 + b[1])
    h2 = relu(h0 + W[2].T @ h1 + b[2])
    np.testing.assert_allclose(H[8:12], h2, rtol=1e-14)
    np.testing.assert_allclose(H[12:], W[3].T @ h2 + b[3], rtol=1e-14)
