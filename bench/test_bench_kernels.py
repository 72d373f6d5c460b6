"""Per-kernel benchmarks: compiled vs NumPy reference, validated before timing."""

from __future__ import annotations

import fastdepth.kernels as K
import numpy as np
import pytest
from fastdepth.kernels import reference as R

IMPLS = {"compiled": K, "reference": R}
SIZES = {
    "w16xd8-n1000": ([16] * 8, 1000),
    "w8xd4-n200": ([8] * 4, 200),
    "w32xd2-n64": ([32] * 2, 64),
}


def _case(size: str):
    widths, n = SIZES[size]
    rng = np.random.default_rng(0)
    layout = K.Layout(2, widths)
    P = rng.standard_normal(layout.n_params) * np.sqrt(2 / 16)
    X = rng.standard_normal((2, n))
    y = (rng.random(n) > 0.5).astype(float)
    return layout, P, X, y


def _check(a, b, rtol=1e-12):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.linalg.norm(a - b) <= rtol * max(np.linalg.norm(b), 1e-300), "kernel != reference"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("impl", IMPLS)
def test_forward(benchmark, impl, size):
    layout, P, X, _ = _case(size)
    B = IMPLS[impl]
    Z, H = B.forward(P, layout, X, "relu")
    _check(H, R.forward(P, layout, X, "relu")[1])
    benchmark.group = f"forward {size}"
    benchmark(B.forward, P, layout, X, "relu", Z=Z, H=H)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("impl", IMPLS)
def test_backward(benchmark, impl, size):
    layout, P, X, y = _case(size)
    B = IMPLS[impl]
    Z, H = K.forward(P, layout, X, "relu")
    dout = np.ascontiguousarray(K.bce_with_logits(np.ascontiguousarray(Z[-1]), y)[1][None, :])
    g, D = B.backward(P, layout, X, Z, H, dout, "relu")
    _check(g, R.backward(P, layout, X, Z, H, dout, "relu")[0])
    benchmark.group = f"backward {size}"
    benchmark(B.backward, P, layout, X, Z, H, dout, "relu", grad=g, D=D)


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "gelu"])
@pytest.mark.parametrize("impl", IMPLS)
def test_activation(benchmark, impl, act):
    z = np.random.default_rng(0).standard_normal(16 * 1000)
    B = IMPLS[impl]
    out = B.activation(z, act)
    _check(out, R.activation(z, act))
    benchmark.group = f"activation {act} 16k"
    benchmark(B.activation, z, act, out=out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("impl", IMPLS)
def test_bce(benchmark, impl, dtype):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal(1000) * 3).astype(dtype)
    y = (rng.random(1000) > 0.5).astype(dtype)
    B = IMPLS[impl]
    loss, d = B.bce_with_logits(z, y)
    loss_r, d_r = R.bce_with_logits(z, y)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert abs(loss - loss_r) <= tol * loss_r
    _check(d, d_r, tol)
    benchmark.group = f"bce n=1000 {np.dtype(dtype).name}"
    benchmark(B.bce_with_logits, z, y, d)


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("impl", IMPLS)
def test_optimizer(benchmark, impl, opt):
    rng = np.random.default_rng(0)
    n = 1969  # a W1 depth-8 network
    p, g = rng.standard_normal(n), rng.standard_normal(n)
    s1, s2 = np.zeros(n), np.zeros(n)
    B = IMPLS[impl]
    step = {
        "sgd": lambda: B.sgd_step(p, g, 1e-3),
        "momentum": lambda: B.momentum_step(p, g, s1, 1e-3, 0.9, 0.0, 2),
        "adam": lambda: B.adam_step(p, g, s1, s2, 3, 1e-3),
    }[opt]
    q = p.copy()
    step()
    {"sgd": lambda: R.sgd_step(q, g, 1e-3),
     "momentum": lambda: R.momentum_step(q, g, np.zeros(n), 1e-3, 0.9, 0.0, 1),
     "adam": lambda: R.adam_step(q, g, np.zeros(n), np.zeros(n), 1, 1e-3)}[opt]()  # fmt: skip
    benchmark.group = f"optimizer {opt} P=1969"
    benchmark(step)


@pytest.mark.parametrize("impl", IMPLS)
def test_diagnostics(benchmark, impl):
    layout, P, X, _ = _case("w16xd8-n1000")
    Z, H = K.forward(P, layout, X, "relu")
    B = IMPLS[impl]
    _check(B.dead_fractions(Z, layout)[0], R.dead_fractions(Z, layout)[0])
    benchmark.group = "diagnostics w16xd8-n1000"
    benchmark(lambda: (B.dead_fractions(Z, layout), B.activation_sq_means(H, layout)))


@pytest.mark.parametrize("impl", IMPLS)
def test_layer_grad_norms(benchmark, impl):
    layout, P, _, _ = _case("w16xd8-n1000")
    g = np.random.default_rng(1).standard_normal(layout.n_params)
    B = IMPLS[impl]
    per, total = B.layer_grad_norms(g, layout)
    per_r, total_r = R.layer_grad_norms(g, layout)
    _check(per, per_r)
    assert abs(total - total_r) <= 1e-12 * total_r
    benchmark.group = "layer_grad_norms w16xd8 (logged every step in W1)"
    benchmark(B.layer_grad_norms, g, layout)
