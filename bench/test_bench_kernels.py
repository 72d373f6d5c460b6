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


# --- curvature: the Hessian-vector product against the gradient, in GFLOP/s ------------
# Both run as the trainer runs them: rows padded to cache lines, aligned buffers. FLOPs
# count the multiply-adds of the dense products only (2 per multiply-add), as W1 does:
# gradient 6 S - 2 w1 per sample (forward, weight and input gradients); Hessian-vector
# product 16 S - 10 w1 (prepare: forward 2 S + input gradients 2 (S - w1); apply: 12 S -
# 8 w1, see kernels/hessian.py), of which only the apply repeats in a Lanczos step.


def _flop_counts(layout):
    t = layout.table
    s, w1 = int(np.sum(t[:, 0] * t[:, 1])), int(t[0, 0] * t[0, 1])
    return {"gradient": 6 * s - 2 * w1, "prepare": 4 * s - 2 * w1, "apply": 12 * s - 8 * w1}


def _padded_point(size, dtype, act="relu"):
    from fastdepth.kernels.buffers import padded_ld, padded_rows, zeros_aligned
    from fastdepth.kernels.hessian import workspace_size

    layout, P, X, y = _case(size)
    P, X, y = P.astype(dtype), X.astype(dtype), y.astype(dtype)
    n = X.shape[1]
    ld = int(padded_ld(n, P))
    Xp = padded_rows(X.reshape(-1), layout.n_in, n, ld)
    table = layout.table.copy()
    ws = zeros_aligned(int(workspace_size(table, ld, layout.n_params)), P)
    return layout, P, X, y, n, ld, Xp, table, ws


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("what", ["gradient", "hvp", "hvp_apply"])
@pytest.mark.parametrize("size", SIZES)
def test_hvp_vs_gradient(benchmark, size, what, dtype):
    from fastdepth.kernels.buffers import zeros_aligned
    from fastdepth.kernels.dense import I0, I1, backward_flat, forward_flat
    from fastdepth.kernels.hessian import hessian_apply, hessian_prepare, hvp_flat
    from fastdepth.kernels.losses import bce_flat

    dtype = np.dtype(dtype).type
    layout, P, X, y, n, ld, Xp, table, ws = _padded_point(size, dtype)
    act = K.settings.ACTIVATIONS["relu"]
    v = np.random.default_rng(1).standard_normal(layout.n_params).astype(dtype)
    out, work = np.empty_like(P), np.empty(n)
    U, out_row = layout.n_units, layout.n_units - 1
    Z, H, D = (zeros_aligned(U * ld, P) for _ in range(3))
    dlog, grad = zeros_aligned(n, P), np.empty_like(P)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    if what == "gradient":

        def fn():
            forward_flat(P, table, Xp, Z, H, n, ld, act, 0.0, 0, I0)
            bce_flat(Z, out_row * ld, y, n, dlog, 0, work)
            backward_flat(P, table, Xp, Z, H, dlog, n, ld, act, 0.0, 0, grad, D, I1)

        fn()
        Zr, Hr = R.forward(P, layout, X, "relu")
        dr = R.bce_with_logits(np.ascontiguousarray(Zr[-1]), y)[1][None, :]
        _check(grad, R.backward(P, layout, X, Zr, Hr, dr, "relu")[0], tol)
        flops = _flop_counts(layout)["gradient"]
    elif what == "hvp":

        def fn():
            hvp_flat(P, table, Xp, y, n, ld, act, 0.0, 0, 0, v, out, ws, work)

        flops = _flop_counts(layout)["prepare"] + _flop_counts(layout)["apply"]
    else:
        hessian_prepare(P, table, Xp, y, n, ld, act, 0.0, 0, 0, ws, work)

        def fn():
            hessian_apply(P, table, Xp, n, ld, 0, ws, v, out)

        flops = _flop_counts(layout)["apply"]
    if what != "gradient":
        fn()
        _check(out, R.hvp(P, layout, X, y, v, "relu", "bce"), tol)
    benchmark.group = f"hvp vs gradient {size} {np.dtype(dtype).name} (GFLOP/s in extra_info)"
    benchmark.extra_info["gflop_per_call"] = flops * n / 1e9
    benchmark(fn)
    if benchmark.stats is not None:
        benchmark.extra_info["gflops"] = flops * n / 1e9 / benchmark.stats.stats.min


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("impl", IMPLS)
def test_hvp(benchmark, impl, size):
    layout, P, X, y = _case(size)
    v = np.random.default_rng(1).standard_normal(layout.n_params)
    B = IMPLS[impl]
    out = B.hvp(P, layout, X, y, v, "relu", "bce")
    _check(out, R.hvp(P, layout, X, y, v, "relu", "bce"))
    benchmark.group = f"hvp (public call) {size}"
    benchmark(B.hvp, P, layout, X, y, v, "relu", "bce", out=out)


@pytest.mark.parametrize("size", SIZES)
def test_top_eigenvalue_20_products(benchmark, size):
    # The sharpness measurement of a W1-like network: 20 Lanczos steps (tol 0 runs all).
    layout, P, X, y = _case(size)
    res = K.top_eigenvalues(P, layout, X, y, "relu", "bce", max_iter=20, tol=0)
    ref = R.top_eigenvalues(P, layout, X, y, "relu", "bce", max_iter=20, tol=0)
    _check(res.values, ref.values, 1e-9)
    benchmark.group = f"top eigenvalue, 20 products {size}"
    benchmark(K.top_eigenvalues, P, layout, X, y, "relu", "bce", max_iter=20, tol=0)
