"""Mean-field maps and their fixed points: q*, chi_1, c*, chi_c, xi_c, the edge of chaos.

See :mod:`fastdepth.theory` for the definitions and references.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..kernels.vocab import ACTIVATIONS
from .expectations import _e_dphi2, _e_pair, _e_phi2, _phi, _resolve

__all__ = [
    "MeanField",
    "c_star",
    "chi_1",
    "chi_c",
    "correlation_map",
    "critical_sigma_w2",
    "length_map",
    "mean_field",
    "q_star",
    "xi_c",
]


@dataclass(frozen=True)
class MeanField:
    """Every mean-field quantity of one ``(activation, sigma_w2, sigma_b2)``; see the package.

    Attributes
    ----------
    activation : str
    sigma_w2, sigma_b2 : float
        Weight variance times fan-in, bias variance.
    alpha : float or None
        The activation parameter used (``None`` for activations without one).
    q_star : float
        Fixed-point length (mean squared pre-activation); ``inf`` if it diverges, 0 if it
        vanishes.
    chi_1 : float
        Growth of the mean squared back-propagated signal per layer (dimensionless).
    c_star, chi_c : float
        Stable correlation of two inputs and the correlation map's slope there; NaN when
        ``q_star`` is 0 or infinite.
    xi_c : float
        Correlation depth scale in layers (``inf`` at the edge of chaos).

    ``phase`` is ``'ordered'`` (``chi_1 < 1``), ``'critical'`` or ``'chaotic'``.
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    alpha: float | None
    q_star: float
    chi_1: float
    c_star: float
    chi_c: float
    xi_c: float

    @property
    def phase(self) -> str:
        if self.chi_1 < 1:
            return "ordered"
        return "critical" if self.chi_1 == 1 else "chaotic"


def _sigmas(sigma_w2: float, sigma_b2: float) -> tuple[float, float]:
    sw, sb = float(sigma_w2), float(sigma_b2)
    if not (math.isfinite(sw) and sw > 0):
        raise ValueError(f"sigma_w2 must be a finite number > 0, got {sigma_w2}")
    if not (math.isfinite(sb) and sb >= 0):
        raise ValueError(f"sigma_b2 must be a finite number >= 0, got {sigma_b2}")
    return sw, sb


# ---------------------------------------------------------------------------- maps


def length_map(
    activation: str,
    q: float,
    sigma_w2: float,
    sigma_b2: float,
    *,
    alpha: float | None = None,
    method: str = "auto",
) -> float:
    """One layer of the length map: ``sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2``."""
    name, a, closed = _resolve(activation, alpha, method)
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    return sw * _e_phi2(name, a, closed, float(q)) + sb


def correlation_map(
    activation: str,
    c: float,
    sigma_w2: float,
    sigma_b2: float,
    *,
    q: float | None = None,
    alpha: float | None = None,
    method: str = "auto",
) -> float:
    """One layer of the correlation map of two inputs of length ``q`` (default ``q*``).

    ``(sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / length_map(q)``; NaN when ``q*`` is 0 or
    infinite and no ``q`` is given.
    """
    name, a, closed = _resolve(activation, alpha, method)
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    if not -1.0 <= float(c) <= 1.0:
        raise ValueError(f"c must be a correlation in [-1, 1], got {c}")
    qq = _q_star(name, a, closed, sw, sb, 1.0) if q is None else float(q)
    return _cmap(name, a, closed, sw, sb, qq, float(c))


def _cmap(name, a, closed, sw, sb, q, c) -> float:
    if not (0.0 < q < math.inf):
        return math.nan
    return min((sw * _e_pair(name, a, closed, q, c, False) + sb) / (sw * _e_phi2(
        name, a, closed, q) + sb), 1.0)  # fmt: skip


# ---------------------------------------------------------------------------- fixed points


def _root(g: Callable[[float], float], lo: float, hi: float, tol: float = 1e-15) -> float:
    """A root of ``g`` in ``[lo, hi]``, where ``g(lo)`` and ``g(hi)`` have opposite signs.

    Regula falsi with the Illinois modification (both ends move, superlinear), falling
    back to the midpoint if a step leaves the bracket; stops when the bracket is below
    ``tol`` relative.
    """
    a, b = lo, hi
    fa, fb = g(a), g(b)
    if fa == 0 or fb == 0:
        return a if fa == 0 else b
    side = 0
    c = 0.5 * (a + b)
    for _ in range(200):
        c = (a * fb - b * fa) / (fb - fa)
        if not min(a, b) < c < max(a, b):
            c = 0.5 * (a + b)
        fc = g(c)
        if fc == 0:
            return c
        if (fc > 0) == (fb > 0):
            b, fb = c, fc
            if side == -1:
                fa *= 0.5
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb *= 0.5
            side = 1
        if abs(b - a) <= tol * max(1.0, abs(c)):
            break
    return c


@functools.lru_cache(maxsize=4096)
def _q_star(name: str, a: float, closed: bool, sw: float, sb: float, q0: float) -> float:
    lmap = lambda q: sw * _e_phi2(name, a, closed, q) + sb  # noqa: E731
    if closed:
        m = sw * _e_dphi2(name, a, True, 1.0)  # the map is q -> m q + sigma_b2
        if m < 1:
            return sb / (1.0 - m)
        if sb == 0 and (m == 1 or q0 == 0):
            return q0
        return math.inf
    h = lambda q: lmap(q) - q  # noqa: E731
    h0 = h(q0)
    if h0 == 0:
        return q0
    # The iteration from q0 moves in the direction of h(q0) until it meets a root.
    if h0 > 0:
        lo, hi = q0, max(2.0 * q0, 1e-12)
        while h(hi) > 0:
            lo, hi = hi, 2.0 * hi
            if hi > 1e15:
                return math.inf
        return _root(h, lo, hi)
    hi, lo = q0, 0.5 * q0
    for _ in range(120):
        if h(lo) >= 0:
            return _root(h, lo, hi)
        hi, lo = lo, 0.5 * lo
    at_zero = sw * float(_phi(name, a, np.zeros(1), derivative=False)[0]) ** 2 + sb
    return 0.0 if at_zero <= 0 else _root(h, 0.0, hi)


def q_star(
    activation: str,
    sigma_w2: float,
    sigma_b2: float,
    *,
    alpha: float | None = None,
    q0: float = 1.0,
    method: str = "auto",
) -> float:
    """Fixed point of the length map reached from an input of length ``q0``.

    Parameters
    ----------
    activation : str
        Any name in :data:`fastdepth.kernels.vocab.ACTIVATIONS`.
    sigma_w2 : float > 0
        Weight variance times fan-in (``RunConfig.sigma_w2``).
    sigma_b2 : float >= 0
        Bias variance.
    alpha : float, optional
        leaky_relu slope / elu scale.
    q0 : float >= 0
        Length of the input layer's pre-activations the iteration starts from.
    method : {"auto", "quadrature", "closed"}
        ``auto``: closed form where one exists (identity, relu, leaky_relu).

    Returns
    -------
    float
        ``q*`` (squared pre-activation), ``inf`` if the length diverges, 0 if it vanishes
        (only with ``sigma_b2 = 0``).
    """
    name, a, closed = _resolve(activation, alpha, method)
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    if not (math.isfinite(q0) and q0 >= 0):
        raise ValueError(f"q0 must be a finite number >= 0, got {q0}")
    return _q_star(name, a, closed, sw, sb, float(q0))


def chi_1(activation: str, sigma_w2: float, sigma_b2: float, *, alpha: float | None = None,
          q0: float = 1.0, method: str = "auto") -> float:  # fmt: skip
    """``sigma_w2 E[phi'(sqrt(q*) z)^2]``: growth of the mean squared gradient per layer.

    Arguments as in :func:`q_star`. At ``q* = inf`` it is the limit ``q -> inf``.
    """
    name, a, closed = _resolve(activation, alpha, method)
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    return sw * _e_dphi2(name, a, closed, _q_star(name, a, closed, sw, sb, float(q0)))


@functools.lru_cache(maxsize=4096)
def _c_star(name: str, a: float, closed: bool, sw: float, sb: float, q0: float) -> float:
    q = _q_star(name, a, closed, sw, sb, q0)
    if not 0.0 < q < math.inf:
        return math.nan
    if sw * _e_dphi2(name, a, closed, q) <= 1.0:
        return 1.0  # c = 1 is stable (ordered phase or the edge of chaos)
    # Chaotic: g(c) = f(c) - c is 0 at c = 1 and negative just below; g(-1) >= 0. The
    # stable fixed point is the root nearest below 1, bracketed on 1 - c = d, 4 d, 16 d, ...
    # g(1 - d) is about -(chi_1 - 1) d: the scan starts where that exceeds the rounding
    # of the 2-D quadrature (~1e-15), so the sign it reads is the true one.
    g = lambda c: _cmap(name, a, closed, sw, sb, q, c) - c  # noqa: E731
    chi1 = sw * _e_dphi2(name, a, closed, q)
    d = min(max(1e-11 / (chi1 - 1.0), 2.0**-40), 0.5)
    hi = 1.0 - d
    while hi > -1.0:
        lo = max(1.0 - 4.0 * (1.0 - hi), -1.0)
        if g(lo) >= 0:
            return _root(g, lo, hi)
        hi = lo
    raise AssertionError("correlation map without a fixed point in [-1, 1)")  # g(-1) >= 0


def c_star(activation: str, sigma_w2: float, sigma_b2: float, *, alpha: float | None = None,
           q0: float = 1.0, method: str = "auto") -> float:  # fmt: skip
    """Stable fixed point of the correlation map: 1 unless chaotic (``chi_1 > 1``).

    Arguments as in :func:`q_star`. NaN when ``q*`` is 0 or infinite (no fixed length).
    """
    name, a, closed = _resolve(activation, alpha, method)
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    return _c_star(name, a, closed, sw, sb, float(q0))


def chi_c(activation: str, sigma_w2: float, sigma_b2: float, *, alpha: float | None = None,
          q0: float = 1.0, method: str = "auto") -> float:  # fmt: skip
    """``sigma_w2 E[phi'(u1) phi'(u2)]`` at ``(q*, c*)``: the slope of the correlation map
    there (``chi_1`` in the ordered phase). NaN when ``c*`` is."""
    name, a, closed = _resolve(activation, alpha, method)
    sw, sb = _sigmas(sigma_w2, sigma_b2)
    c = _c_star(name, a, closed, sw, sb, float(q0))
    if math.isnan(c):
        return math.nan
    q = _q_star(name, a, closed, sw, sb, float(q0))
    if c == 1.0:
        return sw * _e_dphi2(name, a, closed, q)
    return sw * _e_pair(name, a, closed, q, c, True)


def xi_c(activation: str, sigma_w2: float, sigma_b2: float, *, alpha: float | None = None,
         q0: float = 1.0, method: str = "auto") -> float:  # fmt: skip
    """Correlation depth scale ``-1 / ln chi_c`` in layers; ``inf`` at ``chi_c >= 1``.

    Arguments as in :func:`q_star`. NaN when ``c*`` is.
    """
    x = chi_c(activation, sigma_w2, sigma_b2, alpha=alpha, q0=q0, method=method)
    if math.isnan(x):
        return math.nan
    return -1.0 / math.log(x) if x < 1.0 else math.inf


def critical_sigma_w2(
    activation: str,
    sigma_b2: float,
    *,
    alpha: float | None = None,
    q0: float = 1.0,
    method: str = "auto",
    bounds: tuple[float, float] = (0.01, 100.0),
) -> float:
    """The ``sigma_w2`` at which ``chi_1 = 1`` (the edge of chaos) for a given ``sigma_b2``.

    The first crossing of 1 by ``chi_1`` on 100 log-spaced ``sigma_w2`` in ``bounds``,
    refined by :func:`_root`. ``ValueError`` if ``chi_1`` does not cross 1 there (e.g. sigmoid,
    whose ``phi' <= 1/4`` puts the crossing beyond 16).
    """
    name, a, closed = _resolve(activation, alpha, method)
    _, sb = _sigmas(1.0, sigma_b2)
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi < math.inf:
        raise ValueError(f"bounds must be 0 < lo < hi < inf, got {bounds}")
    f = lambda sw: sw * _e_dphi2(name, a, closed, _q_star(name, a, closed, sw, sb, q0)) - 1  # noqa: E731
    grid = np.geomspace(lo, hi, 100)
    prev = grid[0]
    if f(prev) >= 0:
        raise ValueError(f"chi_1 >= 1 already at sigma_w2 = {lo:g}; lower bounds[0]")
    for sw in grid[1:]:
        if f(sw) >= 0:
            return _root(f, float(prev), float(sw))
        prev = sw
    raise ValueError(
        f"chi_1 of {name} stays below 1 for sigma_w2 in [{lo:g}, {hi:g}] at "
        f"sigma_b2 = {sb:g}; widen bounds"
    )


def mean_field(
    activation: str,
    sigma_w2: float,
    sigma_b2: float,
    *,
    alpha: float | None = None,
    q0: float = 1.0,
    method: str = "auto",
) -> MeanField:
    """All of :func:`q_star`, :func:`chi_1`, :func:`c_star`, :func:`chi_c`, :func:`xi_c`."""
    name, a, _ = _resolve(activation, alpha, method)
    kw = dict(alpha=alpha, q0=q0, method=method)
    return MeanField(
        activation=name,
        sigma_w2=float(sigma_w2),
        sigma_b2=float(sigma_b2),
        alpha=a if ACTIVATIONS.entry(name).alpha is not None else None,
        q_star=q_star(name, sigma_w2, sigma_b2, **kw),
        chi_1=chi_1(name, sigma_w2, sigma_b2, **kw),
        c_star=c_star(name, sigma_w2, sigma_b2, **kw),
        chi_c=chi_c(name, sigma_w2, sigma_b2, **kw),
        xi_c=xi_c(name, sigma_w2, sigma_b2, **kw),
    )
