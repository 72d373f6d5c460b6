"""Numba's and llvmlite's internals are used in one module, and its cache hook holds on this Numba.

``kernels/_compat.py`` is the only file that may reach into ``numba.core`` or build
pointer instructions; ``.ci/run`` runs this suite on the oldest and the newest Numba
that ``setup.cfg`` allows, so every use below is exercised on both.
"""

from __future__ import annotations

import configparser
import pathlib
import re

import llvmlite
import numba
import pytest
from fastdepth.kernels import _compat, _jit, dense
from numba.core import caching

ROOT = pathlib.Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kernels"


def test_only_compat_reaches_into_numba_internals():
    internal = re.compile(r"numba\.core|cgutils|\bcaching\b|_locator_classes|numba\.np\.|"
                          r"builder\.(load|store|gep|alloca)\(")  # fmt: skip
    for path in sorted(KERNELS.glob("*.py")):
        if path.name == "_compat.py":
            continue
        lines = path.read_text().splitlines()
        code = "\n".join(s for s in lines if not s.lstrip().startswith("#"))
        hits = [m.group(0) for m in internal.finditer(code)]
        assert not hits, (
            f"{path.name} uses Numba/llvmlite internals {hits}: move them to _compat.py"
        )


def _bounds(requirement: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*(\w+)\s*>=\s*([\d.]+)\s*,\s*<\s*([\d.]+)\s*", requirement)
    assert m, f"{requirement!r} is not 'name>=oldest,<next'"
    return m.group(2), m.group(3)


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def test_installed_numba_and_llvmlite_are_in_the_range_setup_cfg_allows():
    # The range is the one .ci/run tests; an install outside it is not supported.
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    reqs = {re.split(r"[<>=!~ ;]", r.strip())[0]: r.strip()
            for r in cfg["options"]["install_requires"].strip().splitlines()}  # fmt: skip
    for name, mod in (("numba", numba), ("llvmlite", llvmlite)):
        lo, hi = _bounds(reqs[name])
        assert _version(lo) <= _version(mod.__version__) < _version(hi), (name, mod.__version__)


def test_the_cache_hook_finds_numbas_locators_and_installs_once():
    for name in _compat._LOCATORS:
        assert issubclass(_compat._cache_class(name), caching._CacheLocator)
    stamped = [c for c in caching.CacheImpl._locator_classes
               if issubclass(c, _compat.PackageStamped)]  # fmt: skip
    assert len(stamped) == len(_compat._LOCATORS)
    before = list(caching.CacheImpl._locator_classes)
    _compat.install_package_stamp(str(KERNELS), "other")  # idempotent: nothing changes
    assert caching.CacheImpl._locator_classes == before
    assert [c.stamp for c in stamped] == [_jit.package_stamp()] * len(stamped)


def test_a_kernel_cache_is_stamped_and_a_users_is_not(tmp_path):
    dense.unit_offset  # noqa: B018 - a compiled, cached kernel
    assert isinstance(dense.affine._cache._impl._locator, _compat.PackageStamped)
    user = tmp_path / "user_mod.py"
    user.write_text("def f(x):\n    return x + 1\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_mod", user)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    f = numba.njit(cache=True)(mod.f)
    assert f(1) == 2
    assert not isinstance(f._cache._impl._locator, _compat.PackageStamped)


def test_the_stamp_changes_with_numba_llvmlite_and_the_pointer_mode(monkeypatch):
    base = _jit.package_stamp()
    assert f"numba {numba.__version__}" in _compat.toolchain()
    assert f"llvmlite {llvmlite.__version__}" in _compat.toolchain()
    monkeypatch.setattr(llvmlite, "__version__", llvmlite.__version__ + ".post1")
    assert _jit.package_stamp() != base
    monkeypatch.undo()
    flipped = not _compat.typed_pointers()
    monkeypatch.setattr(_compat, "typed_pointers", lambda: flipped)
    assert _jit.package_stamp() != base


def test_vector_intrinsic_rejects_arrays_that_are_not_parameters():
    with pytest.raises(ValueError, match=r"\['P'\] are not parameters"):
        _compat.vector_intrinsic("k", ("a", "b"), ["a", "P"], lambda *a: None)


def _inlined_callee(x, n):
    # several blocks (loops, branches): Numba's copy went block by block
    s = 0.0
    for i in range(n):
        if x[i] > 0:
            s += x[i]
        else:
            s -= x[i] * 0.5
    for i in range(n):
        s += i
    return s


def _caller(x):
    return _inlined_callee_jit(x, x.shape[0]) + 1.0


_inlined_callee_jit = numba.njit(_inlined_callee, inline="always", cache=False)


def _llvm_of_caller() -> str:
    import numpy as np

    f = numba.njit(_caller, cache=False)
    f(np.ones(3))
    # unique ids (in mangled names, inlined variables' names and block labels) count the
    # process's compiles so far, not the code: drop them, number labels by appearance
    text = re.sub(r"B\d+v\d+B", "BvB", f.inspect_llvm(f.signatures[0]))
    text = re.sub(r"_v\d+_", "_v_", re.sub(r"\s*;.*$", "", text, flags=re.M))
    labels: dict[str, str] = {}
    return re.sub(r"\bB\d+\b", lambda m: labels.setdefault(m.group(0), f"L{len(labels)}"), text)


def test_inlining_copies_the_callees_scope_once_and_emits_the_same_code(monkeypatch):
    from numba.core import inline_closurecall as ic

    assert getattr(ic.InlineWorker.inline_ir, "_fastdepth", False)  # installed by _jit
    scopes: dict[int, set[int]] = {}
    blocks: list[int] = []
    copy_block = _compat._SharedMemo.deepcopy

    def counting(self, x, memo=None):
        out = copy_block(self, x, memo)
        scopes.setdefault(id(self), set()).add(id(out.scope))
        blocks.append(id(out))
        return out

    monkeypatch.setattr(_compat._SharedMemo, "deepcopy", counting)
    patched = _llvm_of_caller()
    # Numba still copies through the module's ``copy`` (else nothing was counted), and
    # one inline makes two copies of the IR: one scope each, not one per block
    assert len(blocks) >= 8 and scopes
    assert all(len(s) <= 2 for s in scopes.values()), scopes
    monkeypatch.setattr(ic.InlineWorker, "inline_ir", ic.InlineWorker.inline_ir._original)
    assert _llvm_of_caller() == patched


BLAS_CODE = """
import importlib.util, sys
import numpy as np
import fastdepth as fd
from fastdepth.kernels import _compat
fd.train_many([fd.RunConfig(dataset="circle", depth=1, width=3, epochs=2)], threads=1)
import numba
from numba.np import arraymath, linalg
loaded = "scipy.linalg" in sys.modules
findable = (importlib.util.find_spec("scipy") is not None
            and importlib.util.find_spec("scipy.linalg") is not None)
ours = getattr(arraymath.ensure_blas, "__module__", "")

@numba.njit(cache=False)
def dot(a, b):
    return np.dot(a, b)

ok = None
if findable:  # a user's own linear algebra still imports and checks SciPy's BLAS
    ok = float(dot(np.ones(3), np.arange(3.0))) == 3.0 and "scipy.linalg" in sys.modules
print(loaded, arraymath._HAVE_BLAS == findable, ours, linalg.ensure_blas.__module__, ok)
"""


def test_the_first_compile_checks_blas_without_importing_scipy_linalg():
    """_compat.check_blas_by_name: a process that trains (cached kernels or not) does not
    import scipy.linalg (0.15-0.2 s), Numba's BLAS flag is what its own check gives, and
    its linear algebra still works."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", BLAS_CODE], capture_output=True, text=True,
                         check=True, timeout=600).stdout.split()  # fmt: skip
    loaded, same_flag, ours, theirs, ok = out[-5:]
    assert loaded == "False" and same_flag == "True"
    assert ours == theirs == "numba.np.linalg"  # the original check is back in place
    assert ok in ("True", "None")
