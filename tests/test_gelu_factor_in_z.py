"""A training step's gelu derivative factor stored in Z gives the bits of the one from z.

With ``keep_z = 0`` (the trainer's step) ``forward_flat`` leaves ``gelu'(z)`` in the
hidden rows of ``Z`` for float64 gelu, evaluated from the ``erf`` that gave ``h``, and
``backward_flat`` with ``z_factor = 1`` only multiplies by it. That pair must give the
bits of the pair that keeps ``z`` (``keep_z = 1``, ``z_factor = 0``) for every activation
and both dtypes (float32 and the other codes keep ``z``), and match the NumPy reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastdepth.kernels import reference as R
from fastdepth.kernels import settings
from fastdepth.kernels.activations import (
    apply_activation,
    gelu_and_factor,
    scale_by_derivative,
)
from fastdepth.kernels.buffers import padded_ld, padded_rows, zeros_aligned
from fastdepth.kernels.dense import I0, I1, backward_flat, forward_flat

from tests.conftest import ACTS, assert_close, random_case

GELU = settings.ACTIVATIONS["gelu"]


def test_gelu_and_factor_has_the_bits_of_activation_and_derivative():
    rng = np.random.default_rng(16)
    z = rng.standard_normal(1001) * 4
    z = np.concatenate([z, [0.0, -0.0, 8.3, -8.3, 30.0, -30.0, 1e-300, np.inf, -np.inf, np.nan]])
    h_want, f_want = np.empty_like(z), np.ones_like(z)
    assert apply_activation(z, 0, h_want, 0, z.size, GELU, 0.0)
    assert scale_by_derivative(z, 0, f_want, 0, z.size, GELU, 0.0)
    # offsets as the network passes them
    zz, hh = np.concatenate([np.zeros(3), z]), np.zeros(z.size + 3)
    gelu_and_factor(zz, 3, hh, 3, z.size)
    np.testing.assert_array_equal(hh[3:].view(np.uint64), h_want.view(np.uint64))
    np.testing.assert_array_equal(zz[3:].view(np.uint64), f_want.view(np.uint64))


def _pass(P, layout, X, dout, act, r, keep_z):
    """forward_flat + backward_flat on padded buffers (rows ``ld > n`` apart when n is
    ragged, as in the trainer); ``z_factor`` is set as the trainer sets it."""
    n = X.shape[1]
    ld = int(padded_ld(n, P))
    table = layout.table.copy()
    U = layout.n_units
    Xp = padded_rows(np.ascontiguousarray(X).reshape(-1), layout.n_in, n, ld)
    Z, H, D = (zeros_aligned(U * ld, P) for _ in range(3))
    grad = np.empty_like(P)
    code = settings.ACTIVATIONS[act]
    alpha = settings.DEFAULT_ALPHA.get(act, 0.0)
    assert forward_flat(P, table, Xp, Z, H, n, ld, code, alpha, r, keep_z)
    flag = I0 if keep_z else I1
    assert backward_flat(P, table, Xp, Z, H, dout.reshape(-1), n, ld, code, alpha, r, grad, D,
                         flag)  # fmt: skip
    rows = lambda a: a.reshape(U, ld)[:, :n].copy()  # noqa: E731
    return rows(Z), rows(H), grad, rows(D)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("act", ACTS)
def test_training_pass_has_the_bits_of_the_pass_that_keeps_z(act, seed, dtype):
    rng = np.random.default_rng(1600 + seed)
    layout, P, X, _, r = random_case(rng, dtype)
    dout = rng.standard_normal((1, X.shape[1])).astype(dtype)
    Zk, Hk, gk, Dk = _pass(P, layout, X, dout, act, r, I1)
    Zs, Hs, gs, Ds = _pass(P, layout, X, dout, act, r, I0)
    ctx = f"{act} widths={layout.widths} n={X.shape[1]} residual={r}"
    for name, a, b in (("H", Hs, Hk), ("grad", gs, gk), ("D", Ds, Dk)):
        assert a.tobytes() == b.tobytes(), f"{name} differs: {ctx}"
    hidden = slice(0, layout.n_units - layout.n_out)
    if act == "gelu" and dtype == np.float64:
        # the step's Z holds gelu'(z) of the kept z, bit for bit
        want = np.ones_like(Zk[hidden])
        assert scale_by_derivative(Zk[hidden].reshape(-1), 0, want.reshape(-1), 0, want.size,
                                   GELU, 0.0)  # fmt: skip
        assert Zs[hidden].tobytes() == want.tobytes(), ctx
    elif act != "relu":
        assert Zs.tobytes() == Zk.tobytes(), ctx  # z kept (ReLU may leave rows unwritten)
    assert Zs[-1].tobytes() == Zk[-1].tobytes(), ctx  # the logits, whatever the code
    # and the reference twin, which always recomputes from z
    Zr, Hr = R.forward(P, layout, X, act, residual=r)
    gr, Dr = R.backward(P, layout, X, Zr, Hr, dout, act, residual=r)
    assert_close(gs, gr, dtype, what=f"grad {ctx}")
    assert_close(Ds, Dr, dtype, what=f"D {ctx}")


def test_backward_reads_the_factor_from_z_for_float64_gelu_only():
    # A check that can fail: given z itself where the factor belongs, the float64 result
    # follows Z (D = dL/dh * z), and float32 ignores the flag (it recomputes gelu'(z)).
    from fastdepth.kernels.layout import Layout

    layout = Layout(1, [4])
    for dtype in (np.float64, np.float32):
        P = np.zeros(layout.n_params, dtype)
        layout.weight_view(P, 1)[...] = 1.0  # dL/dh of every hidden unit = dout
        n = ld = 8
        X = np.ones(n, dtype)
        Z = np.full(5 * ld, 2.0, dtype)
        H = np.zeros(5 * ld, dtype)
        D, grad = np.zeros(5 * ld, dtype), np.empty_like(P)
        dout = np.ones(n, dtype)
        assert backward_flat(P, layout.table.copy(), X, Z, H, dout, n, ld, GELU, 0.0, 0, grad,
                             D, I1)  # fmt: skip
        want = np.ones(4 * ld, dtype)
        if dtype == np.float32:
            assert scale_by_derivative(Z, 0, want, 0, want.size, GELU, 0.0)
        else:
            want[:] = 2.0
        np.testing.assert_array_equal(D[: 4 * ld], want)
