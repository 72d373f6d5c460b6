"""Gaussian expectations of an activation: quadrature and closed forms.

Everything the mean-field computations need to know about an activation comes from the
package itself: its function and derivative from the kernels' reference twins, its kinks
(where the quadrature splits) from :data:`fastdepth.kernels.vocab.ACTIVATIONS`, and, for
the activations that are ``z`` above 0 and ``s z`` below (:func:`negative_slope`), the
closed forms. So a new activation needs no entry here. :func:`expect` and :func:`expect2`
are the 1-D and 2-D Gaussian expectations by composite Gauss-Legendre quadrature (see
:mod:`fastdepth.theory`); the ``_e_*`` helpers use the closed forms where they exist.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..kernels import reference
from ..kernels.settings import DEFAULT_ALPHA
from ..kernels.vocab import ACTIVATIONS

__all__ = ["METHODS", "expect", "expect2", "negative_slope"]

METHODS = ("auto", "quadrature", "closed")


def negative_slope(activation: str, alpha: float) -> float | None:
    """``s`` for an activation equal to ``z`` for ``z > 0`` and ``s z`` for ``z < 0``, else None.

    Those are the piecewise-linear activations whose only kink is 0 (identity, relu,
    leaky_relu); ``s`` is read off the package's own activation at ``z = -1``, and it
    enables the closed forms.
    """
    entry = ACTIVATIONS.entry(activation)
    if not entry.piecewise_linear or set(entry.kinks) - {0.0}:
        return None
    f = _phi(activation, alpha, np.array([-1.0, 1.0]), derivative=False)
    return float(-f[0]) if f[1] == 1.0 else None


# ---------------------------------------------------------------------------- arguments


def _resolve(activation: str, alpha: float | None, method: str) -> tuple[str, float, bool]:
    """``(name, alpha, use_closed_form)``; clear errors for anything unknown."""
    entry = ACTIVATIONS.entry(activation)  # unknown name: ValueError with a suggestion
    if alpha is not None and entry.alpha is None:
        raise ValueError(f"{activation} takes no alpha; leave alpha=None")
    a = float(DEFAULT_ALPHA.get(activation, 0.0) if alpha is None else alpha)
    if not math.isfinite(a):
        raise ValueError(f"alpha must be finite, got {alpha}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    closed = negative_slope(activation, a) is not None
    if method == "closed" and not closed:
        raise ValueError(f"{activation} has no closed form; use method='quadrature' or 'auto'")
    return activation, a, closed and method != "quadrature"


# ---------------------------------------------------------------------------- quadrature

_N = 16  # Gauss-Legendre nodes per piece
_L = 12.0  # integrate z over [-L, L]
# Fixed pieces in z (the Gaussian), to which each call adds 0 and the kinks; measured
# against a 14 400-node rule: <= 1e-13 absolute for tanh up to q = 30, 3e-10 at q = 100.
_BASE = (-9.0, -6.5, -4.5, -3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0, 4.5, 6.5, 9.0)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_N)
_TINY_Q = 1e-300  # q = 0 is evaluated as its limit q -> 0+ (the ReLU mask at 0 is 0, not 1/2)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _pieces(lo: np.ndarray, splits: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (last axis) of Gauss-Legendre on ``[lo, s_1], ..., [s_k, hi]``.

    ``lo``, ``hi`` have shape ``S``, ``splits`` shape ``S + (k,)`` (any order; clipped to
    ``[lo, hi]`` here).
    """
    inner = np.sort(np.clip(splits, lo[..., None], hi[..., None]), axis=-1)
    edges = np.concatenate([lo[..., None], inner, hi[..., None]], axis=-1)
    a, b = edges[..., :-1, None], edges[..., 1:, None]
    x = 0.5 * (b - a) * _GL_X + 0.5 * (b + a)
    w = 0.5 * (b - a) * _GL_W
    shape = x.shape[:-2] + (-1,)
    return x.reshape(shape), w.reshape(shape)


def _phi(name: str, alpha: float, u: np.ndarray, derivative: bool) -> np.ndarray:
    u = np.ascontiguousarray(u, dtype=np.float64)
    fn = reference.activation_grad if derivative else reference.activation
    return fn(u, name, None if ACTIVATIONS.entry(name).alpha is None else alpha)


def _kinks(name: str, q: float) -> np.ndarray:
    """0 and the activation's kinks, in units of ``z`` (``u = sqrt(q) z``)."""
    return np.array(sorted({0.0, *ACTIVATIONS.entry(name).kinks})) / math.sqrt(q)


def _line(name: str, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights in ``z`` for a 1-D expectation at variance ``q``."""
    return _pieces(np.array(-_L), np.concatenate([_BASE, _kinks(name, q)]), np.array(_L))


def expect(activation: str, q: float, f: str = "phi2", *, alpha: float | None = None) -> float:
    """A Gaussian expectation of the activation by quadrature, ``u = sqrt(q) z``.

    Parameters
    ----------
    activation : str
    q : float >= 0
        Variance of the pre-activation ``u`` (0 means the limit ``q -> 0+``).
    f : {"phi2", "dphi2", "phi"}
        ``E[phi(u)^2]``, ``E[phi'(u)^2]`` or ``E[phi(u)]``.
    alpha : float, optional
        leaky_relu slope / elu scale (default: the activation's default).
    """
    name, a, _ = _resolve(activation, alpha, "quadrature")
    if f not in ("phi2", "dphi2", "phi"):
        raise ValueError(f"f must be 'phi2', 'dphi2' or 'phi', got {f!r}")
    return _expect(name, a, max(float(q), _TINY_Q), f)


@functools.lru_cache(maxsize=4096)
def _expect(name: str, a: float, q: float, f: str) -> float:
    z, w = _line(name, q)
    v = _phi(name, a, math.sqrt(q) * z, derivative=f == "dphi2")
    v = v if f == "phi" else v * v
    return float(np.sum(w * _INV_SQRT_2PI * np.exp(-0.5 * z * z) * v))


def expect2(
    activation: str, q: float, c: float, derivative: bool = False, *, alpha: float | None = None
) -> float:
    """``E[g(u1) g(u2)]`` by quadrature, ``g = phi`` (or ``phi'``), ``u`` of variance ``q``
    and correlation ``c`` in ``[-1, 1]``."""
    name, a, _ = _resolve(activation, alpha, "quadrature")
    if not -1.0 <= float(c) <= 1.0:
        raise ValueError(f"c must be a correlation in [-1, 1], got {c}")
    return _expect2(name, a, max(float(q), _TINY_Q), float(c), bool(derivative))


@functools.lru_cache(maxsize=65536)
def _expect2(name: str, a: float, q: float, c: float, derivative: bool) -> float:
    if abs(c) == 1.0:  # u2 = c u1
        z, w = _line(name, q)
        u = math.sqrt(q) * z
        v = _phi(name, a, u, derivative) * _phi(name, a, c * u, derivative)
        return float(np.sum(w * _INV_SQRT_2PI * np.exp(-0.5 * z * z) * v))
    s = math.sqrt(1.0 - c * c)
    sq = math.sqrt(q)
    k = _kinks(name, q)
    # The inner integral of a kinked g bends over |z1 - kink| ~ s / |c|: split there too,
    # or a correlation near 1 costs digits (1e-11 for relu' at c = 0.999).
    near = (k[:, None] + s * np.array([-4.0, -1.0, -0.25, 0.25, 1.0, 4.0])).ravel()
    z1, w1 = _pieces(np.array(-_L), np.concatenate([_BASE, k, near]), np.array(_L))
    # u2 = sqrt(q) (c z1 + s z2) crosses kink kappa at z2 = (kappa - c z1) / s
    lo = np.full(z1.shape, -_L)
    lines = (k[None, :] - c * z1[:, None]) / s
    base = np.broadcast_to(np.array(_BASE), (z1.size, len(_BASE)))
    z2, w2 = _pieces(lo, np.concatenate([base, lines], axis=1), -lo)
    g1 = _phi(name, a, sq * z1, derivative)
    g2 = _phi(name, a, sq * (c * z1[:, None] + s * z2), derivative)
    inner = np.sum(w2 * np.exp(-0.5 * z2 * z2) * g2, axis=1)
    return float(np.sum(w1 * np.exp(-0.5 * z1 * z1) * g1 * inner) / (2.0 * math.pi))


# ---------------------------------------------------------------------------- closed forms
# phi(u) = u (u > 0), a u (u < 0): E over the bivariate normal with the arc-cosine kernel
# k(c) = E[relu(u1) relu(u2)] / q = (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi).


def _arccos_k(c: float) -> float:
    return (math.sqrt(max(1.0 - c * c, 0.0)) + (math.pi - math.acos(c)) * c) / (2.0 * math.pi)


def _closed_phiphi(a: float, q: float, c: float) -> float:
    return q * ((1.0 + a * a) * _arccos_k(c) - 2.0 * a * _arccos_k(-c))


def _closed_dphidphi(a: float, c: float) -> float:
    th = math.acos(c)
    return ((1.0 + a * a) * (math.pi - th) + 2.0 * a * th) / (2.0 * math.pi)


# ---------------------------------------------------------------------------- dispatch


def _e_phi2(name: str, a: float, closed: bool, q: float) -> float:
    if closed:
        s = negative_slope(name, a)
        return q * (1.0 + s * s) / 2.0
    return _expect(name, a, max(q, _TINY_Q), "phi2")


def _e_dphi2(name: str, a: float, closed: bool, q: float) -> float:
    if closed:
        s = negative_slope(name, a)
        return (1.0 + s * s) / 2.0
    if math.isinf(q):  # the limit q -> inf: phi'(+inf)^2 and phi'(-inf)^2, half each
        g = _phi(name, a, np.array([1e100, -1e100]), derivative=True)
        return float(0.5 * (g[0] ** 2 + g[1] ** 2))
    return _expect(name, a, max(q, _TINY_Q), "dphi2")


def _e_pair(name: str, a: float, closed: bool, q: float, c: float, derivative: bool) -> float:
    if closed:
        s = negative_slope(name, a)
        return _closed_dphidphi(s, c) if derivative else _closed_phiphi(s, q, c)
    return _expect2(name, a, max(q, _TINY_Q), c, derivative)
