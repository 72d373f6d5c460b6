"""Bad input to the public kernels gets a clear exception, never a crash or garbage."""

from __future__ import annotations

import inspect

import fastdepth.kernels as K
import numpy as np
import pytest
from fastdepth.kernels import reference as R

BACKENDS = [K, R]


@pytest.fixture
def net():
    layout = K.Layout(2, [4, 4])
    rng = np.random.default_rng(0)
    return layout, rng.standard_normal(layout.n_params), rng.standard_normal((2, 10))


def test_every_public_kernel_has_a_twin_with_the_same_signature():
    def params(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    for name in K.PUBLIC_KERNELS:
        assert hasattr(R, name), f"reference lacks {name}"
        assert params(getattr(K, name)) == params(getattr(R, name)), name


@pytest.mark.parametrize("B", BACKENDS)
def test_unknown_activation_lists_valid_names_and_suggests(B, net):
    layout, P, X = net
    with pytest.raises(ValueError, match=r"unknown activation 'rleu'.*Did you mean 'relu'"):
        B.forward(P, layout, X, "rleu")


@pytest.mark.parametrize("B", BACKENDS)
def test_wrong_input_orientation_says_how_to_fix(B, net):
    layout, P, X = net
    with pytest.raises(ValueError, match=r"feature-major.*\.T"):
        B.forward(P, layout, np.ascontiguousarray(X.T), "relu")


@pytest.mark.parametrize("B", BACKENDS)
def test_non_contiguous_and_wrong_dtype(B, net):
    layout, P, X = net
    with pytest.raises(ValueError, match="C-contiguous"):
        B.forward(P, layout, np.asfortranarray(np.vstack([X, X]))[:2], "relu")
    with pytest.raises(TypeError, match="float32 or float64"):
        B.forward(P, layout, X.astype(np.int64), "relu")
    with pytest.raises(TypeError, match="share one dtype"):
        B.forward(P, layout, X.astype(np.float32), "relu")
    with pytest.raises(TypeError, match="NumPy array"):
        B.forward(P, layout, X.tolist(), "relu")


@pytest.mark.parametrize("B", BACKENDS)
def test_nan_inputs_are_refused(B, net):
    layout, P, X = net
    X = X.copy()
    X[0, 3] = np.nan
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        B.forward(P, layout, X, "relu")
    with pytest.raises(ValueError, match="params contain NaN"):
        B.forward(np.full_like(P, np.nan), layout, X[:, :3] * 0, "relu")


@pytest.mark.parametrize("B", BACKENDS)
def test_wrong_shapes(B, net):
    layout, P, X = net
    with pytest.raises(ValueError, match=r"params must have shape \(37,\), got \(36,\)"):
        B.forward(P[:-1], layout, X, "relu")
    Z, H = K.forward(P, layout, X, "relu")
    with pytest.raises(ValueError, match="Z must have shape"):
        B.forward(P, layout, X, "relu", Z=np.empty((3, 10)))
    with pytest.raises(ValueError, match="dout must have shape"):
        B.backward(P, layout, X, Z, H, np.ones((1, 9)), "relu")
    with pytest.raises(ValueError, match="X has no samples"):
        B.forward(P, layout, np.empty((2, 0)), "relu")
    with pytest.raises(TypeError, match="Layout"):
        B.forward(P, "layout", X, "relu")


@pytest.mark.parametrize("B", BACKENDS)
def test_residual_needs_equal_widths(B):
    layout = K.Layout(2, [4, 5, 4])
    P = np.zeros(layout.n_params)
    with pytest.raises(ValueError, match="residual connections need equal widths"):
        B.forward(P, layout, np.zeros((2, 3)), "relu", residual=1)
    with pytest.raises(ValueError, match="residual must be 0"):
        B.forward(P, layout, np.zeros((2, 3)), "relu", residual=-1)


@pytest.mark.parametrize("B", BACKENDS)
def test_optimizer_arguments(B):
    p, g = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        B.sgd_step(p, g, 0.0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        B.sgd_step(p, g, float("nan"))
    with pytest.raises(ValueError, match="momentum must be in"):
        B.momentum_step(p, g, np.zeros(3), 0.1, momentum=1.0)
    with pytest.raises(ValueError, match="beta2 must be in"):
        B.adam_step(p, g, np.zeros(3), np.zeros(3), 1, 0.1, beta2=1.0)
    with pytest.raises(ValueError, match="t counts steps from 1"):
        B.adam_step(p, g, np.zeros(3), np.zeros(3), 0, 0.1)
    with pytest.raises(ValueError, match="grad must have shape"):
        B.sgd_step(p, np.ones(4), 0.1)


@pytest.mark.parametrize("B", BACKENDS)
def test_loss_arguments(B):
    with pytest.raises(ValueError, match="y must have shape"):
        B.bce_with_logits(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="y contains"):
        B.mse(np.zeros(2), np.array([0.0, np.nan]))


def test_layout_offsets_pack_unpack_and_errors():
    lay = K.Layout(3, [5, 2])
    assert lay.n_params == 3 * 5 + 5 + 5 * 2 + 2 + 2 * 1 + 1
    assert lay.table.tolist() == [[3, 5, 0, 15], [5, 2, 20, 30], [2, 1, 32, 34]]
    rng = np.random.default_rng(0)
    params = [
        (rng.standard_normal((a, b)), rng.standard_normal(b)) for a, b in [(3, 5), (5, 2), (2, 1)]
    ]
    flat = lay.pack(params)
    for (W, b), (W2, b2) in zip(params, lay.unpack(flat), strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    # forward is h @ W + b with W (fan_in, fan_out)
    x = rng.standard_normal((3, 1))
    Z, _ = K.forward(flat, lay, x, "identity")
    np.testing.assert_allclose(Z[:5, 0], x[:, 0] @ params[0][0] + params[0][1], rtol=1e-14)
    with pytest.raises(ValueError, match="hidden width must be >= 1"):
        K.Layout(2, [4, 0])
    with pytest.raises(ValueError, match="n_in must be >= 1"):
        K.Layout(0, [4])
    with pytest.raises(ValueError, match=r"layer 1: expected W \(5, 2\)"):
        lay.pack([params[0], (np.zeros((2, 5)), np.zeros(2)), params[2]])


def test_w1_flop_count_is_the_documented_one():
    total = sum(K.Layout(2, [16] * L).flops_per_sample for L in (1, 2, 4, 6, 8))
    assert total * 1000 * 1000 * 50 == 1284.8e9


def test_read_only_inputs_reuse_the_compiled_kernels():
    """A read-only array (a RunResult's parameters) is another Numba type: the public
    kernels copy it, so they reach the specialisations the trainer compiled, not new ones
    (forward_flat 1.4 s, backward_flat 1.1 s, pattern_hashes' forward each)."""
    from fastdepth.kernels import dense, regions

    rng = np.random.default_rng(0)
    layout = K.Layout(2, (6, 5), 1)
    P = rng.standard_normal(layout.n_params)
    X = rng.standard_normal((2, 37))
    dout = rng.standard_normal((1, 37))
    cuts = np.array([0.0])

    def outputs():
        Z, H = K.forward(P, layout, X)
        grad, D = K.backward(P, layout, X, Z, H, dout)
        return Z, H, grad, D, K.pattern_hashes(P, layout, X, cuts)

    kernels = (dense.forward_flat, dense.backward_flat, regions.pattern_hashes_flat)
    before = outputs()
    n_sigs = [len(d.signatures) for d in kernels]
    for a in (P, X, dout):
        a.flags.writeable = False
    after = outputs()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert [len(d.signatures) for d in kernels] == n_sigs
