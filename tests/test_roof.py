"""The FMA-roof kernel computes what it says, and its FLOP count is the formula's."""

from __future__ import annotations

import numpy as np
import pytest
from fastdepth.kernels import roof as R


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("chains", R.CHAINS)
@pytest.mark.parametrize("nbytes", R.VECTOR_BYTES)
def test_roof_matches_reference(dtype, chains, nbytes):
    # m a power of two: acc * m is exact, so acc * m + c rounds once, like the FMA
    rng = np.random.default_rng(chains + nbytes)
    A = R.roof_buffer(chains, nbytes, dtype, m=0.5, c=0.3)
    A[:-2] = rng.standard_normal(A.shape[0] - 2) * 100
    want = R.roof_reference(A, 37)
    got = R.roof(A.copy(), 37, chains, nbytes)
    np.testing.assert_array_equal(got, want)
    # every lane of every chain was updated (a chain left out would still equal its start)
    assert np.all(got[:-2] != A[:-2])


def test_roof_fuses():
    # With m = 1 + 2^-27 and acc = 1 + 2^-27, acc * m = 1 + 2^-26 + 2^-54: the 2^-54 is
    # lost by a separate multiply, kept by the FMA (then c = -1 - 2^-26 leaves it alone).
    e = 2.0**-27
    A = R.roof_buffer(8, 64, "float64", m=1 + e, c=-(1 + 2 * e))
    A[:-2] = 1 + e
    out = R.roof(A, 1, 8, 64)
    assert np.all(out[:-2] == 2.0**-54)


def test_roof_zero_iters_is_identity():
    A = R.roof_buffer(12, 32, "float32")
    np.testing.assert_array_equal(R.roof(A.copy(), 0, 12, 32), A)


def test_roof_flops_formula():
    # 2 FLOPs per FMA lane: 10 steps x 12 chains x 8 float64 lanes
    assert R.roof_flops(10, 12, 64, 8) == 2 * 10 * 12 * 8
    assert R.roof_flops(10, 12, 64, 4) == 2 * 10 * 12 * 16
    assert R.roof_flops(0, 8, 64, 8) == 0


def test_roof_ir_is_one_wide_fma_per_chain():
    kernel = R.roof_kernel(8, 64)
    R.roof(R.roof_buffer(8, 64, "float64"), 1, 8, 64)
    llvm = next(iter(kernel.inspect_llvm().values()))
    assert "llvm.fma.v8f64" in llvm


def test_widest_vector_bytes():
    assert R.widest_vector_bytes({"avx512f", "avx2", "avx"}) == 64
    assert R.widest_vector_bytes({"avx2", "avx", "fma"}) == 32
    assert R.widest_vector_bytes({"sse2"}) == 16


@pytest.mark.parametrize("bad", [dict(chains=7), dict(nbytes=48)])
def test_roof_rejects_unknown_shapes(bad):
    args = dict(chains=8, nbytes=64) | bad
    with pytest.raises(ValueError, match="chains must be one of"):
        R.roof_kernel(**args)


def test_roof_rejects_a_wrong_buffer():
    with pytest.raises(ValueError, match="A must be"):
        R.roof(np.zeros(5), 1, 8, 64)
    with pytest.raises(ValueError, match="iters"):
        R.roof(R.roof_buffer(8, 64, "float64"), -1, 8, 64)
