"""Every use of a Numba or llvmlite internal in fastdepth, in one place.

The compiled core leans on three things that are not stable public API, and this module
is the only one that touches them:

* **llvmlite's IR layer and its pointer model.** llvmlite up to 0.43 has typed pointers
  only (``load`` and ``getelementptr`` take the element type from the pointer); 0.44
  added ``load(..., typ=)`` and ``gep(..., source_etype=)`` for opaque pointers (forced
  by ``LLVMLITE_ENABLE_OPAQUE_POINTERS=1`` on 0.44, by
  ``LLVMLITE_ENABLE_IR_LAYER_TYPED_POINTERS=0`` from 0.45 on), and has announced that
  opaque pointers become the only kind. :func:`load`, :func:`store`, :func:`load_at`,
  :func:`store_at` and :func:`stack_slot` always take the element type explicitly and
  pass it on where llvmlite accepts it; where a pointer still carries a pointee they
  check that it is the type the caller named, so the explicit types are verified on
  every version. ``_vec.py`` touches pointers only through them.
* **Numba's intrinsic lowering context** (``context.make_array(...).data``,
  ``context.cast``, ``context.get_value_type``) and the loop and entry-block alloca
  idioms formerly borrowed from ``numba.core.cgutils`` (:func:`for_range` and
  :func:`stack_slot` now build the same IR with public llvmlite calls):
  :func:`vector_intrinsic` turns an IR emitter over named arguments into a Numba
  ``@intrinsic``.
* **Numba's private cache classes** (``numba.core.caching.CacheImpl._locator_classes``
  and the three source-file locators, named ``_UserProvidedCacheLocator`` etc. in
  Numba 0.60 and 0.61, without the underscore in 0.68): :func:`install_package_stamp`. Numba
  stamps a cached function with its own source file only; fastdepth stamps every
  kernel with :func:`toolchain` and a hash of the whole kernels package.
  ``NUMBA_CACHE_LOCATOR_CLASSES`` (recent Numba) replaces the locator list and so
  bypasses the stamp: do not set it for fastdepth.
* **Numba's code library** (``numba.core.codegen.CPUCodeLibrary.finalize`` and
  ``_optimize_final_module``): :func:`optimise_before_linking`, with which the trainer's
  final module is optimised before the kernels it calls are linked into it, not after.
* **Numba's IR inliner** (``numba.core.inline_closurecall.InlineWorker.inline_ir`` and
  that module's ``copy`` global): :func:`copy_inlined_ir_once`, which makes inlining
  ``train_one`` into a driver take 0.14 s instead of 1.45 s.
* **Numba's code generator** (``cpu_target.target_context.codegen().magic_tuple()``):
  :func:`target_features`, the CPU features Numba compiles for (the host's, or
  ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``), from which ``settings.py`` sizes the
  vector kernels' blocks to the register file.
* **A dispatcher's cache object** (``Dispatcher._cache``: its ``_enabled`` flag,
  ``_index_key`` and ``_cache_file._load_index``): :func:`cache_enabled` and
  :func:`in_disk_cache`, with which :mod:`.precompile` tells a first use (compile the
  kernels on several cores) from a warm start (do nothing) without loading anything.

Tested (``.ci/run``) on the oldest and the newest release that ``setup.cfg`` allows:
Numba 0.60.0 / llvmlite 0.43.0 (typed pointers only, no ``typ=``) and Numba 0.68.1 /
llvmlite 0.50.0, the latter also with opaque pointers forced in llvmlite's IR layer.
``tests/test_vec_ir.py`` also builds the kernels' IR over genuinely opaque pointers and
runs it without Numba.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import inspect
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence

import llvmlite
import numba
from llvmlite import ir
from numba import types
from numba.core import caching as _caching
from numba.extending import intrinsic

# --- llvmlite's IR layer: explicit element types everywhere ----------------------------

_LOAD_TAKES_TYPE = "typ" in inspect.signature(ir.IRBuilder.load).parameters
_GEP_TAKES_TYPE = "source_etype" in inspect.signature(ir.IRBuilder.gep).parameters


def typed_pointers() -> bool:
    """Whether llvmlite's IR layer prints typed pointers (``double*``) rather than ``ptr``."""
    if hasattr(llvmlite, "ir_layer_typed_pointers_enabled"):  # llvmlite >= 0.45
        return bool(llvmlite.ir_layer_typed_pointers_enabled)
    return not getattr(llvmlite, "opaque_pointers_enabled", False)  # 0.44; before: typed only


def opaque_pointer_env() -> dict[str, str] | None:
    """Environment that makes this llvmlite's IR layer print opaque pointers, if it can."""
    version = tuple(int(x) for x in llvmlite.__version__.split(".")[:2])
    if version >= (0, 45):
        return {"LLVMLITE_ENABLE_IR_LAYER_TYPED_POINTERS": "0"}
    if version >= (0, 44):
        return {"LLVMLITE_ENABLE_OPAQUE_POINTERS": "1"}
    return None  # typed pointers only


def _check_pointee(ptr: ir.Value, typ: ir.Type) -> None:
    # Typed pointers (every llvmlite up to now) still know their pointee, also when
    # printed as ``ptr``: a wrong explicit type is caught here, not on the day the
    # pointee goes away. Opaque pointers have none and pass.
    pointee = getattr(ptr.type, "pointee", None)
    if pointee is not None and pointee != typ:
        raise TypeError(f"pointer to {pointee} used as a pointer to {typ}")


def load(builder: ir.IRBuilder, typ: ir.Type, ptr: ir.Value, align: int | None = None):
    """``load typ, ptr``."""
    _check_pointee(ptr, typ)
    if _LOAD_TAKES_TYPE:
        return builder.load(ptr, align=align, typ=typ)
    return builder.load(ptr, align=align)


def store(builder: ir.IRBuilder, value: ir.Value, ptr: ir.Value, align: int | None = None):
    """``store value, ptr`` (the element type is ``value``'s)."""
    _check_pointee(ptr, value.type)
    return builder.store(value, ptr, align=align)


def _element(builder: ir.IRBuilder, etype: ir.Type, base: ir.Value, idx: ir.Value):
    """Pointer to ``base[idx]``, ``base`` pointing to elements of type ``etype``."""
    _check_pointee(base, etype)
    if _GEP_TAKES_TYPE:
        return builder.gep(base, [idx], inbounds=True, source_etype=etype)
    return builder.gep(base, [idx], inbounds=True)


def _pointer_to(builder: ir.IRBuilder, ptr: ir.Value, typ: ir.Type) -> ir.Value:
    """``ptr`` as a pointer to ``typ``: a bitcast for typed pointers, itself if opaque."""
    if getattr(ptr.type, "pointee", typ) == typ:
        return ptr
    return builder.bitcast(ptr, typ.as_pointer())


def _scalar(typ: ir.Type) -> ir.Type:
    return typ.element if isinstance(typ, ir.VectorType) else typ


def load_at(builder: ir.IRBuilder, typ: ir.Type, base: ir.Value, idx: ir.Value, align: int):
    """A ``typ`` (scalar, or vector of ``base``'s elements) read from ``base[idx]``."""
    ptr = _element(builder, _scalar(typ), base, idx)
    return load(builder, typ, _pointer_to(builder, ptr, typ), align)


def store_at(builder: ir.IRBuilder, value: ir.Value, base: ir.Value, idx: ir.Value, align: int):
    """``value`` (scalar, or vector of ``base``'s elements) written from ``base[idx]`` on."""
    ptr = _element(builder, _scalar(value.type), base, idx)
    return store(builder, value, _pointer_to(builder, ptr, value.type), align)


def stack_slot(builder: ir.IRBuilder, typ: ir.Type) -> ir.Value:
    """A zero-initialised ``alloca typ`` in the entry block (as ``cgutils.alloca_once``)."""
    with builder.goto_entry_block():
        ptr = builder.alloca(typ)
        store(builder, ir.Constant(typ, None), ptr)
    return ptr


@contextlib.contextmanager
def for_range(builder: ir.IRBuilder, count: ir.Value) -> Iterator[ir.Value]:
    """``for i in range(count)``; yields ``i`` (the IR of ``cgutils.for_range``)."""
    bbcond = builder.append_basic_block("for.cond")
    bbbody = builder.append_basic_block("for.body")
    bbend = builder.append_basic_block("for.end")
    bbstart = builder.basic_block
    builder.branch(bbcond)
    with builder.goto_block(bbcond):
        index = builder.phi(count.type, name="loop.index")
        builder.cbranch(builder.icmp_signed("<", index, count), bbbody, bbend)
    with builder.goto_block(bbbody):
        yield index
        bbbody = builder.basic_block  # the body may have opened blocks of its own
        incr = builder.add(index, ir.Constant(count.type, 1), flags=["nsw"])
        if not builder.block.is_terminated:
            builder.branch(bbcond)
    index.add_incoming(ir.Constant(count.type, 0), bbstart)
    index.add_incoming(incr, bbbody)
    builder.position_at_end(bbend)


def declare(module: ir.Module, fnty: ir.FunctionType, name: str) -> ir.Function:
    """The function ``name`` of ``module``, declared with ``fnty`` if it is not there yet."""
    fn = module.globals.get(name)
    return ir.Function(module, fnty, name) if fn is None else fn


# --- Numba's intrinsic lowering --------------------------------------------------------

Emitter = Callable[[ir.IRBuilder, ir.Type, dict], None]


def _contig_1d(t) -> bool:
    return isinstance(t, types.Array) and t.ndim == 1 and t.layout in "CF"


def vector_intrinsic(name: str, params: Sequence[str], arrays: Sequence[str], emit: Emitter):
    """A Numba ``@intrinsic`` ``name(*params) -> None`` whose body ``emit`` writes.

    Parameters
    ----------
    name : str
        Name of the intrinsic (shows in Numba's typing errors).
    params : sequence of str
        Argument names, in call order.
    arrays : sequence of str
        The names in ``params`` that are contiguous 1-d float arrays, all of one dtype;
        every other argument must be an integer.
    emit : callable
        ``emit(builder, fty, args)`` writes the body: ``fty`` is the arrays' LLVM float
        type and ``args`` maps every name to an LLVM value, each array to a pointer to
        its first element and each integer to an ``i64``. It uses public llvmlite and
        the pointer helpers of this module only, so it runs without Numba too.
    """
    params, arrays = tuple(params), frozenset(arrays)
    if not arrays <= set(params):
        raise ValueError(f"{name}: arrays {sorted(arrays - set(params))} are not parameters")

    pysig = inspect.Signature(
        [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD) for k in params]
    )

    def typer(typingctx, *argtys, **kwtys):
        try:
            named = pysig.bind(*argtys, **kwtys).arguments
        except TypeError:
            return None
        argtys = tuple(named[k] for k in params)
        if not all(_contig_1d(named[k]) for k in arrays):
            return None
        dtypes = {named[k].dtype for k in arrays}
        if len(dtypes) != 1 or not isinstance(next(iter(dtypes)), types.Float):
            return None
        if not all(isinstance(t, types.Integer) for k, t in named.items() if k not in arrays):
            return None

        def codegen(context, builder, signature, args):
            values = {}
            for k, ty, v in zip(params, signature.args, args, strict=True):
                if k in arrays:
                    values[k] = context.make_array(ty)(context, builder, v).data
                else:
                    values[k] = context.cast(builder, v, ty, types.int64)
            emit(builder, context.get_value_type(next(iter(dtypes))), values)
            return context.get_dummy_value()

        return types.void(*argtys), codegen

    # Numba reads the argument names from the typing function's signature.
    typingctx = inspect.Parameter("typingctx", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    typer.__signature__ = pysig.replace(parameters=[typingctx, *pysig.parameters.values()])
    typer.__name__ = typer.__qualname__ = name
    return intrinsic(typer)


def target_features() -> frozenset[str]:
    """The CPU features Numba's JIT compiles for, e.g. ``{'avx2', 'fma', ...}``.

    The third entry of the code generator's ``magic_tuple`` (the tuple Numba keys its
    cache on): the host's features, or what ``NUMBA_CPU_NAME=generic`` /
    ``NUMBA_CPU_FEATURES`` ask for. Only the enabled (``+``) features are returned.
    """
    from numba.core.registry import cpu_target

    features = cpu_target.target_context.codegen().magic_tuple()[2]
    return frozenset(f[1:] for f in features.split(",") if f.startswith("+"))


# --- Numba's on-disk cache -------------------------------------------------------------


def toolchain() -> str:
    """The compiler stack the machine code depends on: Numba, llvmlite, the pointer mode."""
    ptrs = "typed" if typed_pointers() else "opaque"
    return f"numba {numba.__version__} llvmlite {llvmlite.__version__} {ptrs} pointers"


def _cache_class(name: str) -> type:
    for attr in (name, "_" + name):  # older Numba names them with a leading underscore
        cls = getattr(_caching, attr, None)
        if cls is not None:
            return cls
    raise ImportError(f"numba.core.caching has no {name}: this Numba {numba.__version__} is "
                      "not one fastdepth supports (see setup.cfg)")  # fmt: skip


_LOCATORS = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")


class PackageStamped:
    """Locator mixin: only for files of one package; stamp = that package's stamp.

    Subclasses set ``directory`` (the package) and ``stamp``.
    """

    directory: str
    stamp: str

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.realpath(py_file)) != cls.directory:
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return self.stamp


def install_package_stamp(directory: str, stamp: str) -> None:
    """Make Numba stamp the cache of every function of ``directory`` with ``stamp``.

    Idempotent: a second call for the same directory changes nothing.
    """
    classes = _caching.CacheImpl._locator_classes
    directory = os.path.realpath(directory)
    if any(issubclass(c, PackageStamped) and c.directory == directory for c in classes):
        return
    attrs = {"directory": directory, "stamp": stamp}
    classes[:0] = [type(f"Stamped{name}", (PackageStamped, _cache_class(name)), attrs)
                   for name in _LOCATORS]  # fmt: skip


# --- Numba's disk cache: what is in it ---------------------------------------------------


def cache_enabled(dispatcher) -> bool:
    """Whether ``dispatcher`` (``cache=True``) has a usable on-disk cache in this process."""
    cache = getattr(dispatcher, "_cache", None)
    return bool(getattr(cache, "_enabled", False)) and hasattr(cache, "_cache_file")


def in_disk_cache(dispatcher, sig: tuple) -> bool:
    """Whether Numba's disk cache holds ``dispatcher`` compiled for argument types ``sig``.

    Reads the cache index only (no machine code is loaded), with the key Numba would
    look up (``Cache._index_key``: signature, target machine, bytecode hash).
    """
    cache = dispatcher._cache
    key = cache._index_key(tuple(sig), dispatcher.targetctx.codegen())
    return key in cache._cache_file._load_index()


# --- Numba's code library: when the final module is optimised -----------------------------

_BEFORE_LINKING: list[str] = []  # mangled-name prefixes of the listed functions


def optimise_before_linking(module: str, names: Sequence[str]) -> None:
    """Optimise the code libraries of ``module``'s functions ``names`` before linking.

    ``CPUCodeLibrary.finalize`` links every callee's library into the caller's module and
    then runs the full module pipeline over all of it, so the trainer re-optimised every
    kernel it calls, each already optimised in its own library: 3 s of the first-use
    compile. For these functions the pipeline runs on their own code first, and the
    (optimised) callees are linked in afterwards, as they are. Nothing of theirs is
    inlined into the caller then, which costs nothing where the callee is a whole kernel
    call; a function whose hot loop relies on inlining a small callee must not be listed.
    Same arithmetic (no fastmath), so the same bits (``tests/test_precompile.py`` and
    the reproducibility tests compare them).
    """
    from numba.core import codegen

    for name in names:
        parts = [*module.split("."), name]
        prefix = "_ZN" + "".join(f"{len(p)}{p}" for p in parts)
        if prefix not in _BEFORE_LINKING:
            _BEFORE_LINKING.append(prefix)
    cls = codegen.CPUCodeLibrary
    if getattr(cls.finalize, "_fastdepth", False):
        return
    original = cls.finalize

    def finalize(self):
        prefixes = tuple(_BEFORE_LINKING)  # every library of the process passes here
        if not any(fn.name.startswith(prefixes) and not fn.is_declaration
                   for fn in self._final_module.functions):  # fmt: skip
            return original(self)
        self._optimize_final_module()
        self._optimize_final_module = lambda: None  # the original's call, after linking
        try:
            return original(self)
        finally:
            del self._optimize_final_module

    finalize._fastdepth = True
    cls.finalize = finalize


# --- Numba's IR inliner ------------------------------------------------------------------


class _SharedMemo:
    """Stands in for the ``copy`` module inside one ``InlineWorker.inline_ir`` call: every
    ``deepcopy`` of that call shares one memo."""

    def __init__(self) -> None:
        self.memo: dict = {}

    def deepcopy(self, x, memo=None):
        return copy.deepcopy(x, self.memo if memo is None else memo)


def copy_inlined_ir_once() -> None:
    """Make Numba copy an inlined function's IR in time linear in its size.

    ``InlineWorker.inline_ir`` (``numba.core.inline_closurecall``), which inlines every
    ``inline="always"`` call, deep-copies the callee's blocks one at a time, and every
    block refers to the function's one ``Scope`` of all its variables, so each block's
    copy copied the whole scope again: time ~ blocks x variables, 1.45 s of the 6.4 s
    the trainer's compile took for inlining ``train_one`` (1600 statements) into one
    driver, 0.14 s with one memo. The copy is the same IR: within one call, every block
    refers to the same copied scope instead of a copy each, and ``inline_ir`` replaces
    each block's scope with the caller's anyway (the trainer's machine code is
    byte-for-byte the same, ``tests/test_numba_compat.py``). The module's one use of
    ``copy`` is that deepcopy; Numba compiles under one lock, so the swap is not raced.
    It applies to every inline in the process, a user's own ``inline="always"``
    functions too: the same IR, in less time.
    """
    from numba.core import inline_closurecall as ic

    cls = ic.InlineWorker
    if getattr(cls.inline_ir, "_fastdepth", False):
        return
    original = cls.inline_ir

    def inline_ir(self, *args, **kwargs):
        saved = ic.copy
        ic.copy = _SharedMemo()
        try:
            return original(self, *args, **kwargs)
        finally:
            ic.copy = saved

    inline_ir._fastdepth = True
    inline_ir._original = original
    cls.inline_ir = inline_ir


# --- Numba's BLAS check ------------------------------------------------------------------


def _import_arraymath_checking_blas_by_name() -> None:
    from numba.np import linalg

    original = linalg.ensure_blas

    def findable() -> None:  # what the original's import decides, without importing
        if importlib.util.find_spec("scipy.linalg") is None:
            raise ImportError("scipy.linalg is not installed")

    linalg.ensure_blas = findable
    try:
        from numba.np import arraymath
    finally:
        linalg.ensure_blas = original
    if getattr(arraymath, "ensure_blas", None) is findable:
        arraymath.ensure_blas = original


def check_blas_by_name() -> None:
    """Let Numba's BLAS check find SciPy's BLAS without importing it.

    When Numba first compiles or loads a function, it imports ``numba.np.arraymath``,
    whose import sets ``_HAVE_BLAS`` by importing ``scipy.linalg.cython_blas``; that
    imports ``scipy.linalg``, whose array-API layer imports ``numpy.f2py`` and
    ``numpy.testing``: 0.15-0.2 s of every process that compiles or loads a kernel (the
    warm start, each first-use compile worker). fastdepth calls no BLAS from compiled
    code. Here ``arraymath`` is imported, just before Numba would import it, with a check
    that ``scipy.linalg`` can be found instead; the flag gets the same value where SciPy
    is installed and loadable, and the compiled code is the same. Numba's linear algebra
    (``np.dot`` and ``np.linalg`` in a user's own ``@njit`` code) still imports and checks
    SciPy's BLAS when it is compiled.
    """
    from numba.core import cpu

    cls = cpu.CPUContext
    if getattr(cls.load_additional_registries, "_fastdepth", False):
        return
    original = cls.load_additional_registries

    def load_additional_registries(self):
        if "numba.np.arraymath" not in sys.modules:
            _import_arraymath_checking_blas_by_name()
        return original(self)

    load_additional_registries._fastdepth = True
    cls.load_additional_registries = load_additional_registries


# --- Numba's compile events ----------------------------------------------------------------


@contextlib.contextmanager
def recording_compiles() -> Iterator[list[tuple]]:
    """Record every compile (or cache load) of a Numba dispatcher while the block runs.

    Yields a list that fills, at each compile's end, with ``(dispatcher, argument types,
    seconds, depth)``: ``depth`` 0 for a compile asked for from Python, 1 for one that a
    depth-0 compile's typing asked for, and so on; ``seconds`` includes the callees'.
    Uses Numba's ``numba:compile`` events (``numba.core.event``).
    """
    from numba.core import event

    stack: list[tuple] = []
    out: list[tuple] = []

    class Listener(event.Listener):
        def on_start(self, ev):
            stack.append((ev.data, time.perf_counter()))

        def on_end(self, ev):
            data, t0 = stack.pop()
            out.append((data["dispatcher"], tuple(data["args"]), time.perf_counter() - t0,
                        len(stack)))  # fmt: skip

    listener = Listener()
    event.register("numba:compile", listener)
    try:
        yield out
    finally:
        event.unregister("numba:compile", listener)
