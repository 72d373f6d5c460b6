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
import threading

import numba
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
