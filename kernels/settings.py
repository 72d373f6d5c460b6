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

from . import vocab

FASTMATH: frozenset[str] = frozenset()

# Vector widths in bytes (columns per block x itemsize) of the affine kernels (_vec.py):
# 16 then 8 float64 columns, 32 then 16 float32. A row of at least one narrow block is
# covered by wide blocks, at most one narrow block and one overlapping narrow block
# at its end; only rows shorter than a narrow block use a scalar loop.
AFFINE_BYTES: tuple[int, int] = (128, 64)
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
