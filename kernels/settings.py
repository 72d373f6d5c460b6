"""Numeric settings of the compiled core, in one place.

Every ``@njit`` in :mod:`fastdepth.kernels` takes its fastmath flags from
:data:`FASTMATH`; ``tests/test_settings.py`` fails if any module hard-codes them.
The set never contains ``nnan`` / ``ninf``: divergence checks rely on NaN and inf
propagating honestly. It is empty on purpose: ``contract`` (fused multiply-add) is
the flag that pays, but it is a *permission*, and the JIT-compiled and the cached
code fused one reduction differently (a 1-ulp different gradient norm in a new
process). The micro-kernels call ``llvm.fma`` explicitly instead (``_fma.py``), so
every rounding is fixed by the source and results are bit-reproducible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import _compat, vocab

FASTMATH: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Blocks:
    """Block shapes of the vector micro-kernels (``_vec.py``) for one register file.

    Every output of a kernel is the same sequence of FMAs whatever block computes it
    (``_vec.py``), so these shapes decide speed only, never a bit: the blocks are sized
    so that their accumulators stay in registers.

    Attributes
    ----------
    rows : int
        Output rows of an affine block, one accumulator (one or more vectors) per row.
    affine_bytes : tuple of int
        Bytes (columns x itemsize) of a wide and a narrow affine block. A row of at
        least one narrow block is covered by wide blocks, then narrow blocks, the last
        of them overlapping the columns before it; only shorter rows use a scalar loop.
    affine_vector : int
        Bytes of one accumulator vector of an affine row (0: the whole block width is
        one IR vector, which the backend splits into registers). A block 3 ymm wide is
        three vectors: LLVM widens a 12-lane vector type to 16 lanes.
    wgrad : int
        A weight-gradient block is ``wgrad x wgrad`` entries, each a 64-byte
        accumulator over samples (the 64 bytes fix the summation order: not tunable).
    """

    rows: int
    affine_bytes: tuple[int, int]
    affine_vector: int
    wgrad: int


# By vector registers: 32 (AVX-512: an 8 x 128-byte affine block is 16 zmm accumulators,
# 4 x 4 weight-gradient entries 16) or 16 (AVX2, SSE: 4 rows x 3 ymm is 12 accumulators,
# 2 x 2 entries 8 ymm). The AVX-512 shapes on an AVX2 CPU need 32 ymm accumulators and
# spill them to the stack; measured on a Zen 3 (AVX2, roof 47.9 GFLOP/s), a 16 x 16
# layer's forward over 1000 samples ran at 33 GFLOP/s in 4 x 96-byte blocks, 27 in 4 x 64
# (8 chains, too few to hide the FMA latency) and 14 in the AVX-512 shape; its weight
# gradient at 26 in 2 x 2 blocks against 13 in 4 x 4 (docs/performance.md).
BLOCKS: dict[int, Blocks] = {32: Blocks(8, (128, 64), 0, 4), 16: Blocks(4, (96, 32), 32, 2)}
REGISTERS_ENV = "FASTDEPTH_VECTOR_REGISTERS"


def vector_registers(features: frozenset[str], env: str | None = None) -> int:
    """Vector registers of the target whose block shapes the kernels use (16 or 32).

    32 where the target has AVX-512 (``avx512f`` among Numba's target ``features``), 16
    otherwise; ``env`` (the value of ``FASTDEPTH_VECTOR_REGISTERS``, if set) overrides it,
    so that tests can run either shape on any CPU.
    """
    if env is not None and env.strip():
        try:
            n = int(env)
        except ValueError:
            n = -1
        if n not in BLOCKS:
            raise ValueError(
                f"{REGISTERS_ENV}={env!r}: expected one of {sorted(BLOCKS)} (or unset, to "
                "size the kernels' blocks for this CPU)"
            )
        return n
    return 32 if "avx512f" in features else 16


VECTOR_REGISTERS: int = vector_registers(_compat.target_features(), os.environ.get(REGISTERS_ENV))
BLOCK: Blocks = BLOCKS[VECTOR_REGISTERS]
# The affine kernels' wide and narrow widths in bytes (16 then 8 float64 columns on
# AVX-512, 12 then 4 with 16 registers).
AFFINE_BYTES: tuple[int, int] = BLOCK.affine_bytes
# Columns per L1 chunk in the dense kernels (inputs of a 16-wide layer: 16 KiB).
CHUNK_SAMPLES: int = 128

# The vocabularies (name -> integer code) live in vocab.py; these are the same tables
# under the names the rest of the package has always imported.
ACTIVATIONS = vocab.ACTIVATIONS
LOSSES = vocab.LOSSES
OPTIMIZERS = vocab.OPTIMIZERS
SCHEDULES = vocab.SCHEDULES

# Status codes written by the batched trainer.
STATUS_OK: int = vocab.STATUSES["ok"]
STATUS_DIVERGED: int = vocab.STATUSES["diverged"]
STATUS_BAD_CODE: int = vocab.STATUSES["bad_code"]
STATUS_NO_CURVATURE: int = vocab.STATUSES["no_curvature"]
LR_SHARPNESS: int = vocab.LR_RULES["sharpness"]
STATUS_NAMES: dict[int, str] = {e.code: e.name for e in vocab.STATUSES.entries}

# Default slope of leaky_relu and scale of elu when a run does not set ``alpha``.
DEFAULT_ALPHA: dict[str, float] = {
    e.name: e.alpha for e in vocab.ACTIVATIONS.entries if e.alpha is not None
}
