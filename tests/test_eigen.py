"""Top Hessian eigenvalues: against ``numpy.linalg.eigvalsh`` of the explicit Hessian,
compiled against the reference Lanczos, sign, reproducibility and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import fastdepth.kernels as K
import numpy as np
import pytest
from fastdepth.kernels import reference as R
from fastdepth.kernels.lanczos import start_vector, tridiagonal_eigen
from fastdepth.kernels.settings import LOSSES

from tests.conftest import ACTS, random_case

LOSS_NAMES = sorted(LOSSES)


def _tiny(seed, act, loss, residual=0, widths=(5, 5), n=12, scale=0.9):
    rng = np.random.default_rng(seed)
    layout = K.Layout(2, list(widths))
    P = rng.standard_normal(layout.n_params) * scale
    X = rng.standard_normal((2, n))
    y = (rng.random(n) > 0.5).astype(float) if loss == "bce" else rng.standard_normal(n)
    return P, layout, X, y


def _explicit_hessian(P, layout, X, y, act, loss, residual=0):
    """Column by column from the (finite-difference-checked) reference product."""
    cols = [R.hvp(P, layout, X, y, e, act, loss, residual=residual) for e in np.eye(P.size)]
    Hm = np.column_stack(cols)
    return (Hm + Hm.T) / 2


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("act", ACTS)
def test_top_eigenvalues_match_eigvalsh_of_the_explicit_hessian(act, loss):
    P, layout, X, y = _tiny(zlib.crc32(f"{act} {loss}".encode()), act, loss)
    lam = np.linalg.eigvalsh(_explicit_hessian(P, layout, X, y, act, loss))[::-1]
    norm = np.abs(lam).max()
    # The whole Krylov space: exact up to rounding.
    full = K.top_eigenvalues(P, layout, X, y, act, loss, k=4, max_iter=P.size, tol=0)
    np.testing.assert_allclose(full.values, lam[:4], rtol=0, atol=1e-12 * norm)
    # The default budget: Ritz values lie inside the spectrum (interlacing), each within
    # its residual of an eigenvalue, and the top one within tol of lambda_max.
    res = K.top_eigenvalues(P, layout, X, y, act, loss, k=4)
    assert np.all(res.values <= lam[:4] + 1e-12 * norm)
    gaps = np.abs(res.values[:, None] - lam[None, :]).min(axis=1)
    assert np.all(gaps <= res.residuals + 1e-12 * norm)
    top = K.top_eigenvalues(P, layout, X, y, act, loss)
    assert top.converged and top.iterations <= 20
    assert abs(top.values[0] - lam[0]) <= 1e-4 * norm
    assert top.residuals[0] <= 1e-4 * norm


@pytest.mark.parametrize("residual", [1, 2])
def test_residual_networks_and_deeper_ones(residual):
    P, layout, X, y = _tiny(4, "tanh", "mse", widths=(4, 4, 4, 4), scale=0.6)
    lam = np.linalg.eigvalsh(_explicit_hessian(P, layout, X, y, "tanh", "mse", residual))[::-1]
    res = K.top_eigenvalues(P, layout, X, y, "tanh", "mse", residual=residual, k=2,
                            max_iter=60, tol=1e-10)  # fmt: skip
    assert res.converged
    np.testing.assert_allclose(res.values, lam[:2], rtol=0, atol=1e-9 * np.abs(lam).max())


def test_sharpness_is_the_largest_algebraic_eigenvalue_not_the_largest_magnitude():
    # A point whose most negative eigenvalue dominates in magnitude: power iteration on H
    # would report it; Lanczos reports lambda_max.
    for seed in range(100):
        P, layout, X, y = _tiny(seed, "tanh", "mse", scale=2.0)
        lam = np.linalg.eigvalsh(_explicit_hessian(P, layout, X, y, "tanh", "mse"))
        if -lam[0] > 2 * lam[-1] > 0:
            break
    else:
        pytest.fail("no point with a dominant negative eigenvalue among 100 seeds")
    res = K.top_eigenvalues(P, layout, X, y, "tanh", "mse", k=2, max_iter=P.size, tol=1e-10)
    np.testing.assert_allclose(res.values, lam[::-1][:2], rtol=0, atol=1e-10 * -lam[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_compiled_lanczos_matches_reference(seed, dtype):
    rng = np.random.default_rng(4000 + seed)
    layout, P, X, act, r = random_case(rng, dtype)
    loss = LOSS_NAMES[seed % 2]
    yb = rng.random(X.shape[1]) > 0.5
    y = (yb if loss == "bce" else rng.standard_normal(X.shape[1])).astype(dtype)
    k = 1 + seed % 4
    k = min(k, layout.n_params)
    key = int(rng.integers(0, 2**63)) * 2 + 1
    args = (P, layout, X, y, act, loss)
    kw = dict(residual=r, k=k, key=key, max_iter=15)
    a, b = K.top_eigenvalues(*args, **kw, tol=0), R.top_eigenvalues(*args, **kw, tol=0)
    norm = max(np.abs(b.values).max(), 1e-300)
    tol = 1e-9 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=tol * norm)
    np.testing.assert_allclose(a.residuals, b.residuals, rtol=0, atol=tol * norm)
    assert a.iterations == b.iterations
    if dtype == np.float64:
        a, b = K.top_eigenvalues(*args, **kw), R.top_eigenvalues(*args, **kw)
        assert (a.iterations, a.converged) == (b.iterations, b.converged)
        np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-9 * norm)


def test_start_vector_is_the_reference_draw_to_the_bit():
    for key, stream, n in [(0, 0, 1), (1, 0, 37), (2**64 - 1, 3, 100), (12345, 1, 1000)]:
        out = np.empty(n)
        start_vector(np.uint64(key), stream, out, 0, n)
        assert out.tobytes() == R._start_vector(key, stream, n).tobytes()
        assert np.all((out >= -1) & (out < 1))
    a, b = np.empty(50), np.empty(50)
    start_vector(np.uint64(7), 0, a, 0, 50)
    start_vector(np.uint64(8), 0, b, 0, 50)
    assert not np.array_equal(a, b)


def test_tridiagonal_solver_matches_eigh():
    rng = np.random.default_rng(2)
    for m in (1, 2, 3, 10, 40):
        al, be = rng.standard_normal(m), rng.standard_normal(m)
        be[m // 2] = 0.0  # a decoupled block (a Lanczos restart)
        d, e, z = np.empty(m), np.empty(m), np.empty(m)
        assert tridiagonal_eigen(al, be, m, d, e, z)
        T = np.diag(al) + np.diag(be[: m - 1], 1) + np.diag(be[: m - 1], -1)
        w, S = np.linalg.eigh(T)
        order = np.argsort(d)
        np.testing.assert_allclose(d[order], w, rtol=0, atol=1e-13 * np.abs(w).max())
        np.testing.assert_allclose(np.abs(z[order]), np.abs(S[-1]), rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_low_rank_hessian_breaks_down_and_restarts(seed):
    # Dead ReLU units (bias -50) give a Hessian of rank <= 4 with a 9-fold eigenvalue 0;
    # one start vector's Krylov space holds 0 once, so a top 4 with several zeros (seed
    # 0: all units dead, spectrum 2, 0, 0, ...) is only found through restarts.
    rng = np.random.default_rng(seed)
    layout = K.Layout(1, [4])
    P = rng.standard_normal(layout.n_params)
    layout.bias_view(P, 0)[1:] = -50.0
    X, y = rng.standard_normal((1, 6)), rng.standard_normal(6)
    lam = np.linalg.eigvalsh(_explicit_hessian(P, layout, X, y, "relu", "mse"))[::-1]
    assert np.count_nonzero(np.abs(lam) > 1e-12) <= 5 and np.sum(np.abs(lam[:4]) < 1e-12) >= 1
    for B in (K, R):
        res = B.top_eigenvalues(P, layout, X, y, "relu", "mse", k=4, max_iter=P.size)
        assert res.converged and res.iterations < P.size
        np.testing.assert_allclose(res.values, lam[:4], rtol=0, atol=1e-10 * lam[0])


def _fingerprint(res):
    return res.values.tobytes() + res.residuals.tobytes() + bytes([res.iterations])


def _case(seed):
    rng = np.random.default_rng(seed)
    layout = K.Layout(2, [16] * 4)
    P = rng.standard_normal(layout.n_params) * 0.4
    X = rng.standard_normal((2, 300))
    y = (rng.random(300) > 0.5).astype(float)
    return P, layout, X, y


CODE = """
import sys, numpy as np, fastdepth.kernels as K
sys.path.insert(0, {root!r})
from tests.test_eigen import _case, _fingerprint
out = b"".join(_fingerprint(K.top_eigenvalues(*_case(s), "gelu", "bce", k=3, key=s + 1,
                                             max_iter=12, tol=0)) for s in range(4))
open(sys.argv[1], "wb").write(out)
"""


def test_bit_reproducible_across_threads_repeats_and_processes(tmp_path):
    def run(s):
        return _fingerprint(K.top_eigenvalues(*_case(s), "gelu", "bce", k=3, key=s + 1,
                                              max_iter=12, tol=0))  # fmt: skip

    alone = b"".join(run(s) for s in range(4))
    assert b"".join(run(s) for s in range(4)) == alone
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(run, [3, 2, 1, 0]))  # concurrently, in another order
    assert b"".join(threaded[::-1]) == alone
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    path = tmp_path / "fp.bin"
    subprocess.run([sys.executable, "-c", CODE.format(root=root), str(path)], env=env,
                   check=True)  # fmt: skip
    assert path.read_bytes() == alone


@pytest.mark.parametrize("B", [K, R])
def test_bad_solver_settings_are_refused(B):
    P, layout, X, y = _tiny(0, "relu", "bce")
    args = (P, layout, X, y, "relu", "bce")
    with pytest.raises(ValueError, match=r"k must be in \[1, 4\]"):
        B.top_eigenvalues(*args, k=5)
    with pytest.raises(ValueError, match=r"k must be in"):
        B.top_eigenvalues(*args, k=0)
    with pytest.raises(TypeError, match="k must be an integer"):
        B.top_eigenvalues(*args, k=1.5)
    with pytest.raises(ValueError, match="max_iter must be >= k=3"):
        B.top_eigenvalues(*args, k=3, max_iter=2)
    with pytest.raises(ValueError, match="tol must be a finite number"):
        B.top_eigenvalues(*args, tol=-1.0)
    with pytest.raises(ValueError, match=r"key must be in \[0, 2\*\*64\)"):
        B.top_eigenvalues(*args, key=-1)
    with pytest.raises(ValueError, match="unknown loss"):
        B.top_eigenvalues(P, layout, X, y, "relu", "cross_entropy")
    tiny = K.Layout(1, [], n_out=1)  # two parameters: k <= 2
    with pytest.raises(ValueError, match=r"k must be in \[1, 2\]"):
        B.top_eigenvalues(np.ones(2), tiny, X[:1], y, "relu", "mse", k=3)


def _warm_solve(P, layout, X, y, act, loss, start, k=1, key=7, max_iter=40, tol=1e-10):
    """The compiled solver started warm from ``start`` (unit norm): the trainer's call of
    ``top_eigen_flat`` after its first measurement; returns the values, iterations and
    the next warm start it wrote."""
    from fastdepth.kernels import _validate_curvature as vc
    from fastdepth.kernels import curvature
    from fastdepth.kernels.lanczos import lanczos_size, top_eigen_flat

    layout, n, code, a, r, lc = vc.check_hvp(P, layout, X, y, act, loss, None, 0)
    Xp, ld, table, ws = curvature._point(P, layout, X)
    lws = np.zeros(int(lanczos_size(layout.n_params, max_iter)))
    vals, res, ritz = np.empty(k), np.empty(k), np.array(start, dtype=np.float64)
    it, _, err = top_eigen_flat(P, table, Xp, y, n, ld, code, a, r, lc, np.uint64(key), k,
                                max_iter, tol, ws, np.empty(n), lws, vals, 0, res, 0, ritz, 0,
                                1)  # fmt: skip
    assert err == 0
    return vals, int(it), ritz


def test_a_warm_start_at_the_top_eigenvector_converges_at_once_and_hands_it_on():
    P, layout, X, y = _tiny(11, "tanh", "bce")
    lam, U = np.linalg.eigh(_explicit_hessian(P, layout, X, y, "tanh", "bce"))
    cold = K.top_eigenvalues(P, layout, X, y, "tanh", "bce", key=7, max_iter=40, tol=1e-10)
    vals, it, ritz = _warm_solve(P, layout, X, y, "tanh", "bce", U[:, -1])
    assert it < cold.iterations
    np.testing.assert_allclose(vals[0], lam[-1], rtol=0, atol=1e-10 * np.abs(lam).max())
    # the vector handed to the next solve is the top eigenvector (up to its sign) ...
    assert abs(abs(ritz @ U[:, -1]) - 1.0) < 1e-8
    # ... and the reference twin hands on the same one, with the same iterations
    ref, nxt = R._lanczos(P, layout, X, y, "tanh", "bce", None, 0, 1, 7, 40, 1e-10, U[:, -1])
    assert ref.iterations == it
    np.testing.assert_allclose(ritz, nxt, rtol=0, atol=1e-9)


@pytest.mark.parametrize("k", [1, 3])
def test_a_warm_start_at_a_lower_eigenvector_still_finds_the_top_ones(k, monkeypatch):
    # An eigenvalue that overtook the previous top one: the warm start is exactly the
    # eigenvector of the (k+1)-th, with nothing of the top k in it but the key's share.
    P, layout, X, y = _tiny(12, "relu", "mse")
    lam, U = np.linalg.eigh(_explicit_hessian(P, layout, X, y, "relu", "mse"))
    norm = np.abs(lam).max()
    vals, _, _ = _warm_solve(P, layout, X, y, "relu", "mse", U[:, -1 - k], k=k)
    np.testing.assert_allclose(vals, lam[::-1][:k], rtol=0, atol=1e-8 * norm)
    ref, _ = R._lanczos(P, layout, X, y, "relu", "mse", None, 0, k, 7, 40, 1e-10, U[:, -1 - k])
    np.testing.assert_allclose(ref.values, vals, rtol=0, atol=1e-9 * norm)
    # Without the key's share the start is an invariant subspace: the solve stops at once
    # on a converged eigenvalue that is not the largest (why WARM_BLEND is not 0).
    monkeypatch.setattr(R, "WARM_BLEND", 0.0)
    bad, _ = R._lanczos(P, layout, X, y, "relu", "mse", None, 0, 1, 7, 40, 1e-10, U[:, -1 - k])
    assert bad.iterations == 1 and abs(bad.values[0] - lam[-1 - k]) < 1e-8 * norm
