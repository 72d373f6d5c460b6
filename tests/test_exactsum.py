"""``kernels.exact_sum``: ``math.fsum``'s correctly rounded sum, compiled, bit for bit.

The summaries of every run sum with it (``metrics.exact_mean`` and friends), so it must
give exactly what ``math.fsum`` gives, also where rounding is decided across partials.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastdepth.kernels import exact_sum, reference
from fastdepth.kernels.exactsum import EXACT, FALLBACK, fsum_flat


def _arrays(rng: np.random.Generator):
    for t in range(2500):
        n = int(rng.integers(0, 400))
        kind = t % 6
        if kind == 0:
            yield rng.standard_normal(n)
        elif kind == 1:  # the whole exponent range: many partials
            yield rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
        elif kind == 2:  # cancellation down to the noise
            x = rng.standard_normal(n)
            yield np.concatenate([x, -x[::-1] + rng.standard_normal(n) * 1e-17])
        elif kind == 3:  # half-way cases decided by a far smaller term
            base = np.array([1e16, 1.0, 1e-16, 2.0**53, 1.0, -(2.0**-60)])
            yield np.resize(base, n)[rng.permutation(n)] * rng.choice([1.0, -1.0])
        elif kind == 4:  # exact binary fractions, sums that are exact
            yield rng.integers(-5, 5, n) * 2.0 ** rng.integers(-60, 60, n)
        else:  # what the summaries see: positive curves, squared deviations
            x = np.abs(rng.standard_normal(n)) * 1e-3
            yield (x - x.mean()) ** 2 if n else x


def test_exact_sum_has_the_bits_of_math_fsum():
    for x in _arrays(np.random.default_rng(0)):
        total, flag = fsum_flat(x)
        assert flag == EXACT  # finite, no overflow: the compiled path decides
        want = math.fsum(x)
        assert np.float64(total).tobytes() == np.float64(want).tobytes(), x
        assert exact_sum(x) == reference.exact_sum(x) == want


def test_specials_go_to_math_fsum_and_give_what_it_gives():
    inf, nan = math.inf, math.nan
    for xs in ([inf, 1.0], [-inf, 2.0, -inf], [nan, 1.0], [1.0, nan]):
        assert fsum_flat(np.array(xs))[1] == FALLBACK
        np.testing.assert_equal(exact_sum(np.array(xs)), math.fsum(xs))
    with pytest.raises(ValueError, match="inf"):
        exact_sum(np.array([inf, -inf]))
    with pytest.raises(OverflowError):
        exact_sum(np.array([1e308, 1e308]))
    assert exact_sum(np.array([1e308, -1e308, 1e308])) == 1e308 == math.fsum([1e308, -1e308, 1e308])
    assert exact_sum(np.zeros(0)) == 0.0 and exact_sum(np.array([-0.0])) == math.fsum([-0.0])
    # a read-only array (another Numba type) is copied, not compiled for again
    ro = np.linspace(0.0, 1.0, 101)
    ro.flags.writeable = False
    exact_sum(np.ones(2))  # the one signature, compiled (or loaded) here at the latest
    before = len(fsum_flat.signatures)
    assert exact_sum(ro) == math.fsum(ro) and len(fsum_flat.signatures) == before
    # any shape and a non-contiguous view: summed in full
    m = np.arange(12.0).reshape(3, 4)
    assert exact_sum(m) == 66.0 and exact_sum(m[:, ::2]) == math.fsum(m[:, ::2].ravel())
