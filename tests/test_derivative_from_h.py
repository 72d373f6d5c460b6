"""The backward pass's derivative from the stored activation gives the bits of the one from z.

``scale_by_derivative_h`` (what ``backward_flat`` calls) reads ``h`` for float64 tanh and
sigmoid instead of evaluating the function again; it must equal ``scale_by_derivative``
to the bit, for every activation and both dtypes (float32 falls back to ``z``).
"""

from __future__ import annotations

import numpy as np
import pytest
from fastdepth.kernels import settings
from fastdepth.kernels.activations import (
    apply_activation,
    scale_by_derivative,
    scale_by_derivative_h,
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(settings.ACTIVATIONS.names))
def test_derivative_from_h_has_the_bits_of_the_one_from_z(name, dtype):
    code = settings.ACTIVATIONS[name]
    alpha = settings.DEFAULT_ALPHA.get(name, 0.0)
    rng = np.random.default_rng(code)
    z = np.concatenate([rng.standard_normal(997) * 4, [0.0, -0.0, 30.0, -30.0, 1e-300]])
    z = z.astype(dtype)
    h = np.empty_like(z)
    assert apply_activation(z, 0, h, 0, z.size, code, alpha)
    g = rng.standard_normal(z.size).astype(dtype)
    want, got = g.copy(), g.copy()
    assert scale_by_derivative(z, 0, want, 0, z.size, code, alpha)
    # offsets as the network passes them: z and h share one, the gradient has its own
    zz, hh, gg = (np.concatenate([np.zeros(5, dtype), a]) for a in (z, h, got))
    assert scale_by_derivative_h(zz, hh, 5, gg, 5, z.size, code, alpha)
    np.testing.assert_array_equal(gg[5:].view(np.uint8), want.view(np.uint8))


def test_derivative_from_h_reads_h_for_float64_tanh():
    # A check that can fail: with an h that is not tanh(z), the float64 result follows h.
    code = settings.ACTIVATIONS["tanh"]
    z = np.zeros(8)
    h = np.full(8, 0.5)
    g = np.ones(8)
    scale_by_derivative_h(z, h, 0, g, 0, 8, code, 0.0)
    np.testing.assert_array_equal(g, 0.75)
