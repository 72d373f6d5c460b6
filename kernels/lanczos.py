"""The top eigenvalues of the Hessian: Lanczos on Hessian-vector products, compiled.

Lanczos with full reorthogonalisation (classical Gram-Schmidt, twice) on the operator
``v -> H v`` of :mod:`hessian`. After ``j`` products the Ritz values (eigenvalues of the
``j x j`` tridiagonal ``T_j``) approximate the extreme eigenvalues of ``H`` from the
inside; the ``k`` largest *algebraic* Ritz values are reported, most positive first, so
a non-convex loss's negative eigenvalues are never mistaken for the sharpness by their
magnitude (a Hessian with no positive eigenvalue reports a negative ``lambda_max``). The
residual of a Ritz pair, ``||H x - theta x|| = |beta_j s_j|`` (``s_j`` the last component
of its eigenvector of ``T_j``), bounds its distance to an eigenvalue of ``H``.

Stopping: after ``max_iter`` products, or as soon as the ``k`` residuals are all
``<= tol * ||T_j||`` (``||T_j||`` = the largest ``|Ritz value|``, an estimate of the
spectral norm of ``H``) — the residuals are reported either way. ``T_j`` is
diagonalised by the implicit QL method with Wilkinson shifts, tracking only the last
row of the eigenvector matrix (``O(j^2)`` per step).

Start vector: a counter-based draw from the run's key (:func:`start_vector`, SplitMix64
as in :mod:`shuffle`) or, warm, the previous solve's top Ritz vectors plus a tenth of that
draw (:data:`WARM_BLEND`). A trainer measures the same network every few steps, and its
top eigenvector moves little in between: started there, the residuals meet ``tol`` after
about three quarters of the products a cold start needs (W1, every 50 steps: 4.5 against
6.2). The added draw keeps every eigendirection in the Krylov space, so an eigenvalue that
overtook the previous top one is still found; it costs ~0.1 products.

Reproducibility: the warm start is a function of the run alone; dot products are
fixed-order eight-lane sums; square roots are IEEE ``sqrt``; no library eigen-solver
(whose code paths differ by CPU) is called. One solve runs on one thread, so its bits do
not depend on the thread count, the batch or the CPU's vector width.

A Krylov space from one vector sees each distinct eigenvalue once: if the iteration
breaks down (``beta_j <= 1e-12 ||T_j||``: an invariant subspace has been found), it
restarts from a new draw orthogonal to the basis, which is how a repeated eigenvalue
can appear more than once among the top ``k``.
"""

from __future__ import annotations

import math

import numpy as np

from . import _compat
from ._jit import njit
from .hessian import hessian_apply, hessian_prepare, solver_vectors
from .shuffle import splitmix64

ERR_TRIDIAG = 2  # the QL iteration on T_j did not converge (never seen; reported, not hidden)
BREAKDOWN = 1e-12
_QL_MAX_SWEEPS = 60
_EPS = 2.220446049250313e-16
_SALT = np.uint64(0x4C414E435A4F5331)  # separates the start-vector stream from the shuffles
_INV_2_53 = 1.0 / 9007199254740992.0
# Weight of the key's draw (a unit vector) added to a warm start (a unit vector): it keeps
# every eigendirection in the Krylov space at a tenth of a cold start's share, so an
# eigenvalue that overtook the previous top one is still found (for ~0.1 more products).
WARM_BLEND = 0.1


@njit(inline="always")
def lanczos_size(n_params, max_iter):
    """float64 elements of the solver's scratch: basis, residual vector, ``T`` and QL."""
    m = min(max_iter, n_params)
    return (m + 1) * n_params + 6 * m + m * m


@njit
def start_vector(key, stream, out, oo, count):
    """``out[oo + i]`` uniform in ``[-1, 1)``, the ``i``-th draw of stream ``stream`` of ``key``.

    ``base = splitmix64(key ^ splitmix64(SALT ^ stream))``; draw ``i`` is the top 53 bits
    of ``splitmix64(base + i)``. Stream 0 starts a solve; 1, 2, ... restart it.
    """
    base = splitmix64(np.uint64(key) ^ splitmix64(_SALT ^ np.uint64(stream)))
    for i in range(count):
        u = splitmix64(base + np.uint64(i)) >> np.uint64(11)
        out[oo + i] = 2.0 * (np.float64(u) * _INV_2_53) - 1.0


@njit(inline="always")
def _dot(a, ao, b, bo, n):
    # Eight chains in a fixed order (as vmath.lane_sum8): reproducible and ~8x faster.
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    m = n // 8 * 8
    for i in range(0, m, 8):
        a0 += a[ao + i] * b[bo + i]
        a1 += a[ao + i + 1] * b[bo + i + 1]
        a2 += a[ao + i + 2] * b[bo + i + 2]
        a3 += a[ao + i + 3] * b[bo + i + 3]
        a4 += a[ao + i + 4] * b[bo + i + 4]
        a5 += a[ao + i + 5] * b[bo + i + 5]
        a6 += a[ao + i + 6] * b[bo + i + 6]
        a7 += a[ao + i + 7] * b[bo + i + 7]
    total = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
    for i in range(m, n):
        total += a[ao + i] * b[bo + i]
    return total


@njit(inline="always")
def _axpy(c, x, xo, y, yo, n):
    """``y -= c x`` (local views: offsets in the loop keep LLVM from vectorising it)."""
    xv = x[xo : xo + n]
    yv = y[yo : yo + n]
    for i in range(n):
        yv[i] -= c * xv[i]


@njit(inline="always")
def _orthogonalise(V, j, w, wo, n):
    """Classical Gram-Schmidt of ``w`` against rows ``0..j-1`` of ``V``, twice."""
    for _ in range(2):
        for i in range(j):
            _axpy(_dot(V, i * n, w, wo, n), V, i * n, w, wo, n)


@njit(inline="always")
def _hypot(a, b):
    # Not math.hypot: libm's may differ between CPUs; sqrt is correctly rounded.
    s = max(abs(a), abs(b))
    if s == 0.0:
        return 0.0
    x = a / s
    y = b / s
    return s * math.sqrt(x * x + y * y)


@njit
def tridiagonal_eigen(alpha, beta, m, d, e, z, rows=1):
    """Eigenvalues of the symmetric tridiagonal ``T`` (diagonal ``alpha[:m]``, off-diagonal
    ``beta[:m-1]``) into ``d[:m]`` (unsorted) and the last ``rows`` rows of the matrix of
    normalised eigenvectors into ``z[:rows*m]`` (row-major: ``z[r*m + i]`` is component
    ``m - rows + r`` of eigenvector ``i``); ``e`` is scratch. Returns False if QL did not
    converge.

    The implicit QL algorithm with Wilkinson shifts (EISPACK ``tql2``), with the
    rotations applied to the last ``rows`` rows of the identity only: ``rows = 1`` (the
    residuals) at every Lanczos step, ``rows = m`` (the Ritz vectors) once at the end.
    ``d`` does not depend on ``rows``, bit for bit.
    """
    for i in range(m):
        d[i] = alpha[i]
        e[i] = beta[i] if i < m - 1 else 0.0
    for r in range(rows):
        for i in range(m):
            z[r * m + i] = 1.0 if i == m - rows + r else 0.0
    for lo in range(m):
        sweeps = 0
        while True:
            hi = lo
            while hi < m - 1:
                dd = abs(d[hi]) + abs(d[hi + 1])
                if abs(e[hi]) <= _EPS * dd:
                    break
                hi += 1
            if hi == lo:
                break
            sweeps += 1
            if sweeps > _QL_MAX_SWEEPS:
                return False
            g = (d[lo + 1] - d[lo]) / (2.0 * e[lo])
            r = _hypot(g, 1.0)
            g = d[hi] - d[lo] + e[lo] / (g + (r if g >= 0.0 else -r))
            s = 1.0
            c = 1.0
            p = 0.0
            i = hi - 1
            underflow = False
            while i >= lo:
                f = s * e[i]
                b = c * e[i]
                r = _hypot(f, g)
                e[i + 1] = r
                if r == 0.0:
                    d[i + 1] -= p
                    e[hi] = 0.0
                    underflow = True
                    break
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
                for rr in range(rows):
                    f = z[rr * m + i + 1]
                    z[rr * m + i + 1] = s * z[rr * m + i] + c * f
                    z[rr * m + i] = c * z[rr * m + i] - s * f
                i -= 1
            if underflow:
                continue
            d[lo] -= p
            e[lo] = g
            e[hi] = 0.0
    return True


@njit(inline="always")
def _top_k(d, z, m, k, beta_last, vals, vo, res, ro):
    """The ``k`` largest of ``d[:m]`` into ``vals`` (descending; ties by index) and their
    residuals ``|beta_last z_i|`` into ``res``; returns ``max |d|``. ``d`` is reordered."""
    tnorm = 0.0
    for i in range(m):
        tnorm = max(tnorm, abs(d[i]))
    for t in range(k):
        best = t
        for i in range(t + 1, m):
            if d[i] > d[best]:
                best = i
        dv = d[t]
        d[t] = d[best]
        d[best] = dv
        zv = z[t]
        z[t] = z[best]
        z[best] = zv
        vals[vo + t] = d[t]
        res[ro + t] = abs(beta_last * z[t])
    return tnorm


@njit(inline="always")
def _ritz_start(V, al, be, mj, k, npar, d, e, Z, ritz, xo):
    """The next solve's warm start into ``ritz[xo:xo+npar]``: the unit-norm sum of the ``k``
    top Ritz vectors of ``T_mj``, each signed so its first Krylov coordinate is >= 0
    (eigenvector signs are arbitrary; this makes the sum, and the twin's, well defined).
    Returns False if QL did not converge."""
    if not tridiagonal_eigen(al, be, mj, d, e, Z, mj):
        return False
    w = ritz[xo : xo + npar]
    for i in range(npar):
        w[i] = 0.0
    for t in range(k):
        # the t-th largest of d (ties by index), as _top_k orders them
        best = -1
        for i in range(mj):
            rank = 0
            for q in range(mj):
                if d[q] > d[i] or (d[q] == d[i] and q < i):
                    rank += 1
            if rank == t:
                best = i
        sg = -1.0 if Z[best] < 0.0 else 1.0
        for r in range(mj):
            _axpy(-sg * Z[r * mj + best], V, r * npar, w, 0, npar)
    nrm = math.sqrt(_dot(w, 0, w, 0, npar))
    for i in range(npar):
        w[i] /= nrm
    return True


@njit
def top_eigen_flat(P, table, X, y, n, ld, act, alpha, rblock, loss_code, key, k, max_iter, tol,
                   ws, work, lws, vals, vo, res, ro, ritz, xo, warm):  # fmt: skip
    """The ``k`` largest eigenvalues of the Hessian of the mean loss at ``(P, X, y)``.

    Arguments as :func:`hessian.hessian_prepare`, plus ``key`` (uint64, the start vector's
    key), ``k`` (1 <= k <= n_params), ``max_iter`` (Hessian-vector products at most;
    ``k <= max_iter``), ``tol`` (relative residual, see the module docstring), ``lws``
    (float64, :func:`lanczos_size` elements) and the outputs ``vals[vo:vo+k]``,
    ``res[ro:ro+k]`` (float64: eigenvalues, most positive first, and the absolute
    residuals). Non-finite products give NaN values and residuals.

    ``ritz[xo:xo+n_params]`` (float64) is the warm start: with ``warm = 1`` the start
    vector is ``ritz + WARM_BLEND * u`` (normalised; ``u`` the key's unit draw), with
    ``warm = 0`` it is ``u``. A solve with finite values overwrites it with the unit-norm
    sum of its ``k`` top Ritz vectors (:func:`_ritz_start`), the next solve's warm start.

    Returns
    -------
    (iterations, converged, err) : products used, 1 if every residual met ``tol``, and
    0, ``hessian.ERR_CODE`` or :data:`ERR_TRIDIAG`.
    """
    npar = P.shape[0]
    m = min(max_iter, npar)
    for t in range(k):
        vals[vo + t] = np.nan
        res[ro + t] = np.nan
    _, err = hessian_prepare(P, table, X, y, n, ld, act, alpha, rblock, loss_code, ws, work)
    if err != 0:
        return 0, 0, err
    VIN, VOUT = solver_vectors(ws, table, ld, npar)
    V = lws[: m * npar]
    w = lws[m * npar : (m + 1) * npar]
    o = (m + 1) * npar
    al = lws[o : o + m]
    be = lws[o + m : o + 2 * m]
    d = lws[o + 2 * m : o + 3 * m]
    e = lws[o + 3 * m : o + 4 * m]
    z = lws[o + 4 * m : o + 5 * m]
    d2 = lws[o + 5 * m : o + 6 * m]
    Z = lws[o + 6 * m : o + 6 * m + m * m]
    start_vector(key, 0, V, 0, npar)
    nrm = math.sqrt(_dot(V, 0, V, 0, npar))
    for i in range(npar):
        V[i] /= nrm
    if warm != 0:
        for i in range(npar):
            V[i] = ritz[xo + i] + WARM_BLEND * V[i]
        nrm = math.sqrt(_dot(V, 0, V, 0, npar))
        for i in range(npar):
            V[i] /= nrm
    restarts = 0
    used = m
    conv = 0
    for j in range(m):
        q = j * npar
        for i in range(npar):
            VIN[i] = V[q + i]
        hessian_apply(P, table, X, n, ld, rblock, ws, VIN, VOUT)
        for i in range(npar):
            w[i] = VOUT[i]
        a = _dot(V, q, w, 0, npar)
        _axpy(a, V, q, w, 0, npar)
        if j > 0:
            _axpy(be[j - 1], V, q - npar, w, 0, npar)
        _orthogonalise(V, j + 1, w, 0, npar)
        b = math.sqrt(_dot(w, 0, w, 0, npar))
        al[j] = a
        be[j] = b
        if not (math.isfinite(a) and math.isfinite(b)):
            return j + 1, 0, 0
        # rows as a typed value: omitted, it made a second specialisation (0.5 s to compile)
        if not tridiagonal_eigen(al, be, j + 1, d, e, z, np.int64(1)):
            return j + 1, 0, ERR_TRIDIAG
        kk = min(k, j + 1)
        tnorm = _top_k(d, z, j + 1, kk, b, vals, vo, res, ro)
        done = kk == k
        for t in range(kk):
            done = done and res[ro + t] <= tol * tnorm
        if done:
            used = j + 1
            conv = 1
            break
        if j == m - 1:
            break
        nq = q + npar
        if b > BREAKDOWN * tnorm:
            for i in range(npar):
                V[nq + i] = w[i] / b
        else:
            # An invariant subspace: continue from a new draw orthogonal to the basis.
            be[j] = 0.0
            restarts += 1
            start_vector(key, restarts, V, nq, npar)
            _orthogonalise(V, j + 1, V, nq, npar)
            nrm = math.sqrt(_dot(V, nq, V, nq, npar))
            for i in range(npar):
                V[nq + i] /= nrm
    if not _ritz_start(V, al, be, used, k, npar, d2, e, Z, ritz, xo):
        return used, 0, ERR_TRIDIAG
    return used, conv, 0


# Their own code is optimised before the kernels they call are linked in (every call is
# a whole layer or a whole product): see _compat.optimise_before_linking.
_compat.optimise_before_linking(__name__, ("top_eigen_flat",))
