"""The one ``njit`` every compiled kernel in fastdepth uses.

It applies the project's fastmath flags (:data:`settings.FASTMATH`) and turns on
LLVM's SLP vectoriser *for fastdepth's functions only*. Numba switched SLP off
globally in 0.57 after miscompilations elsewhere (numba PR #8852); our unrolled
sample-block micro-kernels (``_micro.py``) need it to become vector FMAs (about 4x
on a 16-wide layer). The equivalence tests against ``reference.py`` are the guard
against a miscompile. The flag is set while *this* dispatcher compiles and restored
afterwards, so a user's own Numba code in the same process is unaffected.
"""

from __future__ import annotations

import contextlib
import hashlib
import pathlib
import threading

import numba
from numba.core import caching as _caching
from numba.core import config as _numba_config

from .settings import FASTMATH

_lock = threading.RLock()


@contextlib.contextmanager
def _slp_enabled():
    with _lock:
        old = _numba_config.SLP_VECTORIZE
        _numba_config.SLP_VECTORIZE = 1
        try:
            yield
        finally:
            _numba_config.SLP_VECTORIZE = old


def njit(fn=None, *, parallel: bool = False, inline: str = "never", cache: bool = True):
    """Compile ``fn`` with fastdepth's numeric settings (see module docstring)."""

    def wrap(f):
        disp = numba.njit(
            f,
            fastmath=set(FASTMATH) or False,
            parallel=parallel,
            cache=cache,
            inline=inline,
            error_model="numpy",
            boundscheck=False,
            nogil=True,
        )
        compile_plain = disp.compile

        def compile_with_slp(sig):
            with _slp_enabled():
                return compile_plain(sig)

        # Both lazy compilation from Python and typing from a calling kernel go
        # through ``Dispatcher.compile``, so this catches every compile of ``f``.
        disp.compile = compile_with_slp
        return disp

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
