"""An explicit fused multiply-add, ``fma(a, b, c) = a * b + c`` rounded once.

Why not the ``contract`` fastmath flag: it only *permits* LLVM to fuse, and the code
Numba JIT-compiles in memory and the object code it caches on disk were seen to
fuse a reduction differently, so the same run gave a 1-ulp different gradient norm
in a new process. Results must be bit-reproducible, so nothing in fastdepth is
compiled with ``contract``; the micro-kernels call ``llvm.fma`` explicitly, which
is exactly one rounding on every path and still vectorises (``vfmadd...pd``).
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` with a single rounding; all three of one float type."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen
