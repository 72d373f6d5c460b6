"""The one ``njit`` every compiled kernel in fastdepth uses.

It applies the project's fastmath flags (:data:`settings.FASTMATH`) and the same
options everywhere. The vector code is explicit (``_vec.py`` writes LLVM vector IR),
so nothing relies on LLVM's SLP vectoriser, which Numba keeps off since 0.57
(numba PR #8852). Until 2026-11 fastdepth switched it on for its own functions to
vectorise generated scalar micro-kernels; with those gone it only cost compile time
(0.5 s of the cold start, no measurable speed). Nothing is compiled with
``parallel=True``: the trainer runs networks on Python threads (see ``trainer.py``), so
the kernels are serial and ``nogil``.
"""

from __future__ import annotations

import hashlib
import pathlib

import numba

from . import _compat
from .settings import FASTMATH, VECTOR_REGISTERS


def njit(fn=None, *, inline: str = "never", cache: bool = True):
    """Compile ``fn`` with fastdepth's numeric settings (see module docstring)."""

    def wrap(f):
        return numba.njit(
            f,
            fastmath=set(FASTMATH) or False,
            cache=cache,
            inline=inline,
            error_model="numpy",
            boundscheck=False,
            nogil=True,
        )

    return wrap(fn) if fn is not None else wrap


# --- on-disk cache invalidation --------------------------------------------------------
# Numba stamps a cached function with its *own* source file's mtime and size, so a
# change to settings.py (fastmath flags, block sizes) or to a callee in another file
# would leave stale machine code in the cache. fastdepth's kernels are stamped with a
# hash of every kernel source file and of the compiler stack (Numba and llvmlite
# versions, llvmlite's pointer mode) instead: any change to the compiled core or an
# upgrade of either library recompiles all of it. The hook into Numba's private cache
# classes lives in _compat.py with the other uses of Numba internals.

_KERNELS_DIR = pathlib.Path(__file__).resolve().parent


def package_stamp(directory: pathlib.Path = _KERNELS_DIR) -> str:
    """Hash of every ``*.py`` file in ``directory`` (names and bytes), of the toolchain
    and of the block shapes (``settings.VECTOR_REGISTERS``, which an environment variable
    can set apart from the CPU that Numba's own cache key names)."""
    h = hashlib.sha256(f"{_compat.toolchain()} registers {VECTOR_REGISTERS}".encode())
    for path in sorted(directory.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


_PackageStamped = _compat.PackageStamped  # the locator mixin (tests look for it here)
_compat.install_package_stamp(str(_KERNELS_DIR), package_stamp())
_compat.copy_inlined_ir_once()  # the trainer's compile inlines a large function
_compat.check_blas_by_name()  # no scipy.linalg import at the first compile or cache load
