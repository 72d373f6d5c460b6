"""The one ``njit`` every compiled kernel in fastdepth uses.

It applies the project's fastmath flags (:data:`settings.FASTMATH`) and the same
options everywhere. The vector code is explicit (``_vec.py`` writes LLVM vector IR),
so nothing relies on LLVM's SLP vectoriser, which Numba keeps off since 0.57
(numba PR #8852). Until 2026-11 fastdepth switched it on for its own functions to
vectorise generated scalar micro-kernels; with those gone it only cost compile time
(0.5 s of the cold start, no measurable speed).
"""

from __future__ import annotations

import hashlib
import pathlib

import numba
from numba.core import caching as _caching

from .settings import FASTMATH


def njit(fn=None, *, parallel: bool = False, inline: str = "never", cache: bool = True):
    """Compile ``fn`` with fastdepth's numeric settings (see module docstring)."""

    def wrap(f):
        return numba.njit(
            f,
            fastmath=set(FASTMATH) or False,
            parallel=parallel,
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
# hash of every kernel source file and the Numba version instead: any change to the
# compiled core recompiles all of it.

_KERNELS_DIR = pathlib.Path(__file__).resolve().parent


def package_stamp(directory: pathlib.Path = _KERNELS_DIR) -> str:
    """Hash of every ``*.py`` file in ``directory`` (names and bytes) and Numba's version."""
    h = hashlib.sha256(numba.__version__.encode())
    for path in sorted(directory.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


_STAMP = package_stamp()


class _PackageStamped:
    """Locator mixin: only for files of the kernels package; stamp = :func:`package_stamp`."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if pathlib.Path(py_file).resolve().parent != _KERNELS_DIR:
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return _STAMP


def _install_locators() -> None:
    classes = _caching.CacheImpl._locator_classes
    if any(issubclass(c, _PackageStamped) for c in classes):
        return
    bases = (_caching.UserProvidedCacheLocator, _caching.InTreeCacheLocator,
             _caching.UserWideCacheLocator)  # fmt: skip
    classes[:0] = [type(f"Fastdepth{b.__name__}", (_PackageStamped, b), {}) for b in bases]


_install_locators()
