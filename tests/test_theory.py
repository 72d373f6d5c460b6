"""Mean-field theory: every activation defined, quadrature against independent estimates,
closed forms against quadrature, published critical points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastdepth.kernels import reference as R
from fastdepth.kernels.vocab import ACTIVATIONS

from fastdepth import theory as T
from fastdepth.theory import expectations as TE

ALL = ACTIVATIONS.names
CLOSED = [a for a in ALL if T.negative_slope(a, 0.3) is not None]


def test_closed_forms_are_exactly_the_activations_linear_on_both_sides_of_zero():
    assert CLOSED == ["identity", "relu", "leaky_relu"]
    assert [T.negative_slope(a, 0.3) for a in CLOSED] == [1.0, 0.0, 0.3]
    for a in ALL:  # the vocabulary's kinks are where the quadrature must split
        z = np.array([-2.0, -0.5, 0.5, 2.0])
        g = R.activation_grad(z, a)
        smooth_at_0 = 0.0 not in ACTIVATIONS.entry(a).kinks
        if smooth_at_0:  # no jump of the slope across 0 beyond smooth variation
            g0 = R.activation_grad(np.array([-1e-7, 1e-7]), a)
            assert abs(g0[1] - g0[0]) < 1e-5, a
        assert np.all(np.isfinite(g)), a


def _trapezoid(f, n=200_001, L=14.0):
    """Composite trapezoid on [-L, 0] and [0, L], each side taking its own limit at 0 (where
    the ReLU family bends or jumps): exponentially accurate for integrands smooth on each
    side, and independent of the Gauss-Legendre rule of fastdepth.theory."""
    total = 0.0
    for side in (-1.0, 1.0):
        z = side * np.linspace(0.0, L, n)
        z[0] = side * 1e-300
        w = np.full(n, L / (n - 1))
        w[[0, -1]] *= 0.5
        total += math.fsum(w * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * f(z))
    return total


@pytest.mark.parametrize("act", ALL)
@pytest.mark.parametrize("q", [0.05, 1.0, 6.0])
def test_1d_expectations_match_an_independent_rule(act, q):
    s = math.sqrt(q)
    for f, g in (("phi2", lambda z: R.activation(s * z, act) ** 2),
                 ("dphi2", lambda z: R.activation_grad(s * z, act) ** 2),
                 ("phi", lambda z: R.activation(s * z, act))):  # fmt: skip
        got, ref = T.expect(act, q, f), _trapezoid(g)
        assert abs(got - ref) <= 1e-7 * max(1.0, abs(ref)), (act, f, got, ref)


@pytest.mark.parametrize("act", ALL)
def test_2d_expectations_match_monte_carlo(act):
    rng = np.random.default_rng(ACTIVATIONS[act])
    n = 400_000
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    for q, c in ((0.7, 0.3), (2.5, -0.6), (1.2, 0.95)):
        u1 = math.sqrt(q) * z1
        u2 = math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
        for deriv, fn in ((False, R.activation), (True, R.activation_grad)):
            v = fn(u1, act) * fn(u2, act)
            se = v.std() / math.sqrt(n)
            got = T.expect2(act, q, c, deriv)
            assert abs(got - v.mean()) <= 5 * se + 1e-12, (act, q, c, deriv)


@pytest.mark.parametrize("act", ALL)
def test_2d_expectation_at_c_1_is_the_1d_one_and_continuous(act):
    for q in (0.3, 2.0):
        e1 = T.expect(act, q, "phi2")
        assert abs(T.expect2(act, q, 1.0) - e1) <= 1e-14 * max(1, e1)
        assert abs(T.expect2(act, q, 1.0 - 1e-9) - e1) <= 1e-7 * max(1, e1)


CLOSED_CASES = [(a, None) for a in CLOSED] + [
    (a, 0.3) for a in CLOSED if ACTIVATIONS.entry(a).alpha is not None
]


@pytest.mark.parametrize("act,alpha", CLOSED_CASES)
def test_closed_forms_match_quadrature(act, alpha):
    for q in (0.2, 1.0, 7.0):
        for c in (-0.95, -0.4, 0.0, 0.5, 0.999):
            for deriv in (False, True):
                sl = T.negative_slope(act, TE._resolve(act, alpha, "auto")[1])
                exact = TE._closed_dphidphi(sl, c) if deriv else TE._closed_phiphi(sl, q, c)
                assert abs(T.expect2(act, q, c, deriv, alpha=alpha) - exact) <= 1e-12 * max(1, q)
    for sw, sb in ((0.7, 0.1), (1.3, 0.0), (1.9, 0.4)):
        kw = dict(alpha=alpha)
        c = T.mean_field(act, sw, sb, method="closed", **kw)
        n = T.mean_field(act, sw, sb, method="quadrature", **kw)
        for f in ("q_star", "chi_1", "c_star", "chi_c", "xi_c"):
            a, b = getattr(c, f), getattr(n, f)
            same = a == b or (math.isnan(a) and math.isnan(b))
            assert same or abs(a - b) <= 1e-9 * max(1.0, abs(a)), (act, sw, sb, f, a, b)


# ----------------------------------------------------------------------------- published


def test_tanh_edge_of_chaos_at_sigma_b2_005():
    """Schoenholz et al. 2017 (Fig. 1 / the chi_1 = 1 line): sigma_w^2 ~ 1.76."""
    crit = T.critical_sigma_w2("tanh", 0.05)
    assert abs(crit - 1.76) < 0.005
    assert abs(T.chi_1("tanh", crit, 0.05) - 1.0) < 1e-10
    assert T.xi_c("tanh", crit * 0.999, 0.05) > 500 and T.xi_c("tanh", crit * 1.001, 0.05) > 500


def test_tanh_without_bias_is_critical_at_1():
    # q* grows from 0 at sigma_w2 = 1, and chi_1 - 1 is quadratic in sigma_w2 - 1 there:
    # the root is only determined to about sqrt(rounding).
    assert abs(T.critical_sigma_w2("tanh", 0.0) - 1.0) < 1e-6
    assert T.q_star("tanh", 0.8, 0.0) == 0.0 and math.isnan(T.c_star("tanh", 0.8, 0.0))


def test_relu_without_bias_is_critical_at_2():
    assert T.critical_sigma_w2("relu", 0.0) == 2.0
    assert abs(T.critical_sigma_w2("relu", 0.0, method="quadrature") - 2.0) < 1e-9
    assert T.chi_1("relu", 2.0, 0.0) == 1.0 and T.xi_c("relu", 2.0, 0.0) == math.inf
    assert abs(T.critical_sigma_w2("leaky_relu", 0.0, alpha=0.5) - 2 / 1.25) < 1e-12
    assert T.critical_sigma_w2("identity", 0.3) == 1.0


# ----------------------------------------------------------------------------- fixed points


@pytest.mark.parametrize("act", ALL)
def test_fixed_points_are_fixed(act):
    for sw, sb in ((0.6, 0.05), (1.5, 0.2), (3.0, 0.05)):
        m = T.mean_field(act, sw, sb)
        if not 0 < m.q_star < math.inf:
            continue
        assert abs(T.length_map(act, m.q_star, sw, sb) - m.q_star) <= 1e-10 * m.q_star
        assert abs(T.correlation_map(act, m.c_star, sw, sb) - m.c_star) <= 1e-10
        if m.phase == "ordered":
            assert m.c_star == 1.0 and m.chi_c == m.chi_1
            assert m.xi_c == pytest.approx(-1 / math.log(m.chi_1), rel=1e-12)
        else:  # chaotic: a stable fixed point below 1, chi_c the map's slope there
            h = 1e-5
            slope = (T.correlation_map(act, m.c_star + h, sw, sb)
                     - T.correlation_map(act, m.c_star - h, sw, sb)) / (2 * h)  # fmt: skip
            assert m.c_star < 1 and m.chi_c < 1
            assert abs(slope - m.chi_c) < 1e-6


def test_chaotic_tanh_decorrelates():
    m = T.mean_field("tanh", 3.0, 0.05)
    assert m.phase == "chaotic" and 0.25 < m.c_star < 0.35 and 8 < m.xi_c < 10


def test_diverging_length():
    assert T.q_star("relu", 2.5, 0.1) == math.inf
    assert T.chi_1("relu", 2.5, 0.1) == 1.25
    assert math.isnan(T.xi_c("relu", 2.5, 0.1))
    assert T.q_star("gelu", 4.0, 0.1) == math.inf
    assert abs(T.chi_1("gelu", 4.0, 0.1) - 2.0) < 1e-12  # phi'(+inf) = 1, phi'(-inf) = 0


def test_clear_errors():
    with pytest.raises(ValueError, match="did you mean 'tanh'"):
        T.q_star("tahn", 1.0, 0.1)
    with pytest.raises(ValueError, match="tanh takes no alpha"):
        T.chi_1("tanh", 1.0, 0.1, alpha=0.2)
    with pytest.raises(ValueError, match="tanh has no closed form"):
        T.chi_1("tanh", 1.0, 0.1, method="closed")
    with pytest.raises(ValueError, match="sigma_w2 must be a finite number > 0"):
        T.chi_1("tanh", 0.0, 0.1)
    with pytest.raises(ValueError, match="sigma_b2 must be"):
        T.chi_1("tanh", 1.0, -0.1)
    with pytest.raises(ValueError, match="stays below 1"):
        T.critical_sigma_w2("sigmoid", 0.05)
    with pytest.raises(ValueError, match=r"c must be a correlation in \[-1, 1\]"):
        T.correlation_map("tanh", 1.5, 1.0, 0.1)
