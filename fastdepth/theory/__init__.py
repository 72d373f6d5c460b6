"""Mean-field signal propagation in wide random networks, for every activation fastdepth has.

A network with weights ``W ~ N(0, sigma_w2 / fan_in)`` and biases ``b ~ N(0, sigma_b2)``
(``RunConfig(init='meanfield', sigma_w2=..., sigma_b2=...)``) propagates, in the
infinite-width limit (Poole et al. 2016, arXiv 1606.05340; Schoenholz et al. 2017, arXiv
1611.01232):

- the *length* ``q`` (mean squared pre-activation of a layer) by the length map
  ``q' = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2``, ``z ~ N(0, 1)``, towards its fixed point
  ``q*`` (:func:`q_star`);
- the *correlation* ``c`` of two inputs by the correlation map
  ``c' = (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / q'``, ``u1, u2`` of variance ``q`` and
  correlation ``c`` (:func:`correlation_map`), towards its stable fixed point ``c*``
  (:func:`c_star`);
- gradients by ``chi_1 = sigma_w2 E[phi'(sqrt(q*) z)^2]`` per layer: the mean squared
  back-propagated signal grows by ``chi_1`` per layer (its norm by ``sqrt(chi_1)``);
  ``chi_1 < 1`` is the ordered phase (``c* = 1``), ``chi_1 > 1`` the chaotic one
  (``c* < 1``), ``chi_1 = 1`` the edge of chaos (:func:`critical_sigma_w2`);
- correlations approach ``c*`` as ``exp(-depth / xi_c)``,
  ``xi_c = -1 / ln chi_c`` with ``chi_c = sigma_w2 E[phi'(u1) phi'(u2)]`` at ``c*``
  (:func:`xi_c`); ``xi_c`` diverges at the edge of chaos, and Schoenholz et al. find
  networks trainable to a depth of about ``6 xi_c``.

All quantities are dimensionless (``q`` in units of squared pre-activation) and returned as
Python floats. Expectations are computed by composite Gauss-Legendre quadrature on
``|z| <= 12`` (the Gaussian mass beyond is 4e-33), split at ``z = 0`` and at the
activation's kinks (the vocabulary's ``kinks``) so each piece is smooth and the rule converges
exponentially; in 2-D the inner integral is split where ``u2`` crosses a kink. The activation
itself is :func:`fastdepth.kernels.reference.activation` (and ``activation_grad``): the same
function the networks compute. Activations linear on both sides of 0 (identity, relu,
leaky_relu) also have closed forms (the arc-cosine kernel of Cho & Saul 2009), used by
default (``method='auto'``); the tests check them against the quadrature.

Cost: a 1-D expectation evaluates the activation at 256 points, a 2-D one at 90 112;
:func:`q_star` takes ~100 of the former, :func:`c_star` in the chaotic phase ~30 of the
latter (~0.1 s for tanh). Results are cached per argument tuple.

Modules: :mod:`~fastdepth.theory.expectations` (quadrature, closed forms),
:mod:`~fastdepth.theory.meanfield` (the maps and their fixed points).
"""

from __future__ import annotations

from .expectations import METHODS, expect, expect2, negative_slope
from .meanfield import (
    MeanField,
    c_star,
    chi_1,
    chi_c,
    correlation_map,
    critical_sigma_w2,
    length_map,
    mean_field,
    q_star,
    xi_c,
)

__all__ = [
    "METHODS",
    "negative_slope",
    "MeanField",
    "c_star",
    "chi_1",
    "chi_c",
    "correlation_map",
    "critical_sigma_w2",
    "expect",
    "expect2",
    "length_map",
    "mean_field",
    "q_star",
    "xi_c",
]
