"""One place for numeric settings: no kernel hard-codes fastmath or bypasses ``_jit.njit``."""

from __future__ import annotations

import pathlib
import re

from fastdepth.kernels import settings

KERNELS = pathlib.Path(__file__).resolve().parents[1] / "kernels"
ROOT = KERNELS.parent


def test_fastmath_never_drops_nan_or_inf_handling():
    assert "nnan" not in settings.FASTMATH and "ninf" not in settings.FASTMATH
    assert "fast" not in settings.FASTMATH
    # contract lets LLVM fuse or not as it likes: not bit-reproducible (see settings.py)
    assert "contract" not in settings.FASTMATH


def test_no_kernel_module_hard_codes_jit_options():
    for path in KERNELS.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"fastmath\s*=\s*(True|\{)", text), f"{path.name} hard-codes fastmath"
        if path.name != "_jit.py":
            assert "numba.njit" not in text and "from numba import njit" not in text, path.name


def test_fastdepth_leaves_numbas_global_config_alone():
    # A user's own Numba code in the same process must compile as it would without us.
    import fastdepth.kernels as K
    from numba.core import config

    before = config.SLP_VECTORIZE
    K.activation(__import__("numpy").zeros(3), "relu")
    assert config.SLP_VECTORIZE == before


def test_numba_cache_is_invalidated_by_any_kernel_source_change(tmp_path):
    # Numba alone stamps a cached function with its own file only: a change to
    # settings.py would leave stale machine code in the cache of every other module.
    import shutil

    from fastdepth.kernels import _jit, dense

    dense.unit_offset  # noqa: B018 - a compiled, cached kernel
    locator = dense.affine._cache._impl._locator
    assert isinstance(locator, _jit._PackageStamped)
    assert locator.get_source_stamp() == _jit.package_stamp()
    copy = tmp_path / "kernels"
    shutil.copytree(KERNELS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert _jit.package_stamp(copy) == _jit.package_stamp()
    (copy / "settings.py").write_text((copy / "settings.py").read_text() + "\n# edit\n")
    assert _jit.package_stamp(copy) != _jit.package_stamp()
