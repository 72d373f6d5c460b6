"""The vector kernels' IR is valid with typed and with opaque pointers, and computes the same bits.

llvmlite has announced that its IR layer will have opaque pointers only; Numba cannot
yet run that way everywhere, so the emitters of ``_vec.py`` are built here without Numba:
into a plain module whose array arguments are pointers of the kind under test, checked
by ``llvm.parse_assembly`` + ``verify``, compiled with MCJIT and run on NumPy arrays.
The opaque case runs in a subprocess with llvmlite's IR layer switched to opaque pointers
(where this llvmlite can, see ``_compat.opaque_pointer_env``), so no typed pointer is
left anywhere in its IR. Every output is compared to the bit with the same kernel
compiled by Numba in this process, and with NumPy to rounding.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import pathlib
import re
import subprocess
import sys

import llvmlite
import llvmlite.binding as llvm
import numpy as np
import pytest
from fastdepth.kernels import _compat, _vec, settings
from fastdepth.kernels._fma import fma
from llvmlite import ir
from numba import njit

KERNELS = pathlib.Path(__file__).resolve().parents[1] / "kernels"
I64 = ir.IntType(64)
FTY = {"float64": ir.DoubleType(), "float32": ir.FloatType()}


def build_ir(kind: str, shape: tuple[int, int], dtype: str, opaque: bool) -> str:
    """Textual IR of ``void kernel(...)``: one of the ``_vec`` kernels as a plain function."""
    params, arrays, emit = {
        "affine": (_vec.AFFINE_PARAMS, _vec.AFFINE_ARRAYS, _vec.emit_affine),
        "wgrad": (_vec.WGRAD_PARAMS, _vec.WGRAD_ARRAYS, _vec.emit_wgrad),
    }[kind]
    fty = FTY[dtype]
    ptr = ir.PointerType() if opaque else fty.as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [ptr if k in arrays else I64 for k in params])
    module = ir.Module(name=f"{kind}_{shape}_{dtype}")
    module.triple = llvm.get_process_triple()
    fn = ir.Function(module, fnty, name="kernel")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    emit(builder, fty, dict(zip(params, fn.args, strict=True)), *shape)
    builder.ret_void()
    return str(module)


def run_ir(text: str, kind: str, args: dict) -> None:
    """Verify and JIT-compile ``text``, then call its ``kernel`` on ``args`` (arrays in place)."""
    params = _vec.AFFINE_PARAMS if kind == "affine" else _vec.WGRAD_PARAMS
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    module = llvm.parse_assembly(text)
    module.verify()
    machine = llvm.Target.from_default_triple().create_target_machine()
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    ctypes_args = [ctypes.c_void_p if isinstance(args[k], np.ndarray) else ctypes.c_int64
                   for k in params]  # fmt: skip
    fn = ctypes.CFUNCTYPE(None, *ctypes_args)(engine.get_function_address("kernel"))
    fn(*[args[k].ctypes.data if isinstance(args[k], np.ndarray) else args[k] for k in params])


# --- the cases: every shape of kernel that _vec builds, every emode, both dtypes ---------


# The shapes of every register file's blocks (settings.BLOCKS), not only this CPU's.
AFFINE_SHAPES = sorted({(r, b, k.affine_vector) for k in settings.BLOCKS.values()
                        for r in (k.rows, 1) for b in k.affine_bytes})  # fmt: skip
WGRAD_SHAPES = sorted({s for k in settings.BLOCKS.values() for n in (k.wgrad,)
                       for s in ((n, n), (n, 1), (1, n), (1, 1), (0, n), (0, 1))})  # fmt: skip


def cases():
    rng = np.random.default_rng(20261)
    out = []
    for dtype in ("float64", "float32"):
        for shape in AFFINE_SHAPES:
            for mode, emode in ((0, 0), (1, 0), (0, 1), (0, 2), (1, 3)):
                args = _affine_args(rng, dtype, *shape[:2], mode, emode)
                out.append(("affine", shape, dtype, args))
        for ni, nj in WGRAD_SHAPES:
            out.append(("wgrad", (ni, nj), dtype, _wgrad_args(rng, dtype, ni, nj)))
    return out


def _affine_args(rng, dtype, rows, nbytes, mode, emode):
    lanes = nbytes // np.dtype(dtype).itemsize
    nblk, nred, row0, s_begin = 2, 5, 1, lanes  # a block that does not start at 0
    nrows = row0 + rows
    ld = s_begin + nblk * lanes + 3
    wo, bo = 2, 2 + nrows * nred
    P = rng.standard_normal(bo + nrows + 1).astype(dtype)
    X = rng.standard_normal(nred * ld + 7).astype(dtype)
    Y = np.full(nrows * ld + 4, 7.0, dtype)
    E = rng.standard_normal(nrows * ld + 9).astype(dtype)
    E[::5] = np.nan  # the mask treats NaN as "off", as activations.py does
    args = dict(P=P, wo=wo, rs=nred, cs=1, nred=nred, bo=bo, mode=mode, X=X, xo=7, Y=Y, yo=4,
                row0=row0, ld=ld, s_begin=s_begin, nblk=nblk, E=E, eo=9, emode=emode)  # fmt: skip
    args["X"][:7] = np.nan  # before xo: never read
    return args


def _wgrad_args(rng, dtype, ni, nj):
    lanes = _vec.WG_BYTES // np.dtype(dtype).itemsize
    nblk, i0, j0, fo = 3, 1, 2, 9
    ld = nblk * lanes + 5
    X = rng.standard_normal(3 + (i0 + max(ni, 1)) * ld).astype(dtype)
    D = rng.standard_normal(6 + (j0 + nj) * ld).astype(dtype)
    G = np.full(4 + (i0 + max(ni, 1)) * fo + j0 + nj, 7.0, dtype)
    return dict(X=X, xo=3, D=D, do=6, ld=ld, nblk=nblk, G=G, go=4, fo=fo, i0=i0, j0=j0)


def expected(kind, shape, args):
    """What the kernel must write, in float64 (NaN where the output must stay untouched)."""
    a = {k: v.astype(np.float64) if isinstance(v, np.ndarray) else v for k, v in args.items()}
    if kind == "affine":
        rows, nbytes = shape[:2]
        lanes = nbytes // args["P"].itemsize
        r = np.arange(a["row0"], a["row0"] + rows)
        c = np.arange(a["s_begin"], a["s_begin"] + a["nblk"] * lanes)
        q = np.arange(a["nred"])
        W = a["P"][a["wo"] + r[:, None] * a["rs"] + q[None, :] * a["cs"]]
        Xb = a["X"][a["xo"] + q[:, None] * a["ld"] + c[None, :]]
        bias = a["P"][a["bo"] + r] if a["mode"] == 0 else np.zeros(rows)
        Z = bias[:, None] + W @ Xb
        yi = a["yo"] + r[:, None] * a["ld"] + c[None, :]
        ei = a["eo"] + (yi - a["yo"])
        Y, E = a["Y"].copy(), a["E"].copy()
        relu = np.where(Z > 0, Z, Z * 0)
        if a["emode"] == 2:
            Y[yi] = np.where(E[ei] > 0, Z, Z * 0)
        else:
            Y[yi] = relu if a["emode"] == 3 else Z
            if a["emode"] == 1:
                E[ei] = relu
        return {"Y": Y, "E": E}
    ni, nj = shape
    lanes = _vec.WG_BYTES // args["X"].itemsize
    s = np.arange(a["nblk"] * lanes)
    j = a["j0"] + np.arange(nj)
    Dj = a["D"][a["do"] + j[:, None] * a["ld"] + s[None, :]]
    G = a["G"].copy()
    if ni == 0:
        G[a["go"] + j] = Dj.sum(axis=1)
    else:
        i = a["i0"] + np.arange(ni)
        Xi = a["X"][a["xo"] + i[:, None] * a["ld"] + s[None, :]]
        G[a["go"] + i[:, None] * a["fo"] + j[None, :]] = Xi @ Dj.T
    return {"G": G}


@functools.cache
def _numba_kernel(kind, shape):
    """The same kernel as Numba compiles it (the intrinsic of ``_vec``), callable from Python."""
    k = (_vec.make_affine if kind == "affine" else _vec.make_wgrad)(*shape)
    if kind == "affine":

        @njit
        def call(
            P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, row0, ld, s_begin, nblk, E, eo, emode
        ):
            k(P, wo, rs, cs, nred, bo, mode, X, xo, Y, yo, row0, ld, s_begin, nblk, E, eo, emode)

        return lambda a: call(*[a[p] for p in _vec.AFFINE_PARAMS])

    @njit
    def call(X, xo, D, do, ld, nblk, G, go, fo, i0, j0):
        k(X, xo, D, do, ld, nblk, G, go, fo, i0, j0)

    return lambda a: call(*[a[p] for p in _vec.WGRAD_PARAMS])


def _copy(args):
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}


def _outputs(kind, args):
    return {k: args[k] for k in (("Y", "E") if kind == "affine" else ("G",))}


# The subprocess: same cases, opaque pointers in llvmlite's IR layer, outputs to a file.
CHILD = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
import test_vec_ir as T
from fastdepth.kernels import _compat
assert not _compat.typed_pointers(), "the IR layer still prints typed pointers"
out = {{}}
for n, (kind, shape, dtype, args) in enumerate(T.cases()):
    text = T.build_ir(kind, shape, dtype, opaque=True)
    assert "*" not in text, f"typed pointer in the opaque IR of {{kind}} {{shape}}"
    T.run_ir(text, kind, args)
    for k, v in T._outputs(kind, args).items():
        out[f"{{n}}_{{k}}"] = v
np.savez(sys.argv[1], **out)
"""


@pytest.fixture(scope="module")
def opaque_outputs(tmp_path_factory):
    env = _compat.opaque_pointer_env()
    if env is None:
        pytest.skip(f"llvmlite {llvmlite.__version__} has no opaque pointers in its IR layer")
    path = tmp_path_factory.mktemp("opaque") / "out.npz"
    code = CHILD.format(tests=str(pathlib.Path(__file__).parent))
    subprocess.run([sys.executable, "-c", code, str(path)], env={**os.environ, **env}, check=True)
    return np.load(path)


def _check(n, outputs, what):
    kind, shape, dtype, args = cases()[n]
    by_numba = _copy(args)
    _numba_kernel(kind, shape)(by_numba)
    want = expected(kind, shape, args)
    rtol = 1e-13 if dtype == "float64" else 1e-5
    for k, got in _outputs(kind, by_numba).items():
        assert outputs(k).tobytes() == got.tobytes(), f"{k}: {what} IR != the Numba kernel"
        np.testing.assert_allclose(got, want[k], rtol=rtol, atol=rtol, err_msg=k)


@pytest.mark.parametrize("n", range(len(cases())))
def test_typed_pointer_ir_matches_numba_to_the_bit(n):
    kind, shape, dtype, args = cases()[n]
    standalone = _copy(args)
    run_ir(build_ir(kind, shape, dtype, opaque=False), kind, standalone)
    _check(n, lambda k: standalone[k], "typed-pointer")


@pytest.mark.parametrize("n", range(len(cases())))
def test_opaque_pointer_ir_matches_numba_to_the_bit(n, opaque_outputs):
    _check(n, lambda k: opaque_outputs[f"{n}_{k}"], "opaque-pointer")


def test_opaque_pointers_without_the_ir_layer_switch_still_verify():
    # Opaque array arguments in this process's (typed) IR layer: any load or GEP that
    # still took its element type from the pointer would fail to build here.
    if _compat.opaque_pointer_env() is None:
        pytest.skip(f"llvmlite {llvmlite.__version__} has no opaque pointer type")
    for kind, shape, dtype, args in cases()[:: 7]:  # fmt: skip
        run_ir(build_ir(kind, shape, dtype, opaque=True), kind, _copy(args))


def test_a_wrong_explicit_element_type_is_caught():
    fn = ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), [ir.DoubleType().as_pointer()]),
                     name="f")  # fmt: skip
    builder = ir.IRBuilder(fn.append_basic_block())
    with pytest.raises(TypeError, match="used as a pointer to float"):
        _compat.load_at(builder, ir.FloatType(), fn.args[0], ir.Constant(I64, 0), 4)
    with pytest.raises(TypeError, match="used as a pointer to float"):
        _compat.store(builder, ir.Constant(ir.FloatType(), 0.0), fn.args[0])


def test_vec_touches_pointers_and_numba_only_through_compat():
    text = (KERNELS / "_vec.py").read_text()
    raw = re.findall(r"builder\.(load|store|gep|alloca|bitcast)\(", text)
    assert not raw, f"_vec.py builds pointer instructions itself: {raw}"
    assert not re.search(r"^\s*(from|import) numba", text, re.M), "_vec.py imports numba"


# --- every block shape gives the same bits ------------------------------------------------
# settings.BLOCKS sizes the blocks to the CPU's register file; that may change speed, never
# a bit. Each shape tiles the same outputs here; all must equal one scalar FMA chain.


@njit
def _scalar_affine(P, rs, cs, nred, X, ld, Y, nrows, ncols):
    for r in range(nrows):
        for c in range(ncols):
            acc = P[r]  # the bias
            for q in range(nred):
                acc = fma(P[nrows + r * rs + q * cs], X[q * ld + c], acc)
            Y[r * ld + c] = acc


@njit
def _scalar_wgrad(X, D, ld, n, G, fi, fo, lanes):
    # lane l sums the samples s = l (mod lanes) from zero; then the halving tree
    for i in range(fi):
        for j in range(fo):
            part = np.zeros(lanes, X.dtype)
            for s in range(n):
                part[s % lanes] = fma(X[i * ld + s], D[j * ld + s], part[s % lanes])
            m = lanes
            while m > 1:
                m //= 2
                for k in range(m):
                    part[k] = part[k] + part[k + m]
            G[i * fo + j] = part[0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_affine_block_shape_gives_the_bits_of_one_fma_chain(dtype):
    rng = np.random.default_rng(7)
    nrows, nred = 8, 13
    ncols = 2 * math.lcm(*(b // np.dtype(dtype).itemsize for _, b, _ in AFFINE_SHAPES))
    ld = ncols + 5
    P = rng.standard_normal(nrows + nrows * nred).astype(dtype)
    X = rng.standard_normal(nred * ld).astype(dtype)
    want = np.zeros(nrows * ld, dtype)
    _scalar_affine(P, nred, 1, nred, X, ld, want, nrows, ncols)
    E = np.zeros(1, dtype)
    for rows, nbytes, vbytes in AFFINE_SHAPES:
        lanes = nbytes // np.dtype(dtype).itemsize
        Y = np.zeros(nrows * ld, dtype)
        for row0 in range(0, nrows, rows):
            a = dict(P=P, wo=nrows, rs=nred, cs=1, nred=nred, bo=0, mode=0, X=X, xo=0, Y=Y,
                     yo=0, row0=row0, ld=ld, s_begin=0, nblk=ncols // lanes, E=E, eo=0,
                     emode=0)  # fmt: skip
            _numba_kernel("affine", (rows, nbytes, vbytes))(a)
        assert Y.tobytes() == want.tobytes(), f"affine block {rows} x {nbytes} bytes"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_weight_gradient_block_shape_gives_the_bits_of_one_lane_order(dtype):
    rng = np.random.default_rng(8)
    lanes = _vec.WG_BYTES // np.dtype(dtype).itemsize
    fi = fo = 4
    nblk = 5
    ld = nblk * lanes + 3
    X = rng.standard_normal(fi * ld).astype(dtype)
    D = rng.standard_normal(fo * ld).astype(dtype)
    want = np.zeros(fi * fo, dtype)
    _scalar_wgrad(X, D, ld, nblk * lanes, want, fi, fo, lanes)
    for ni, nj in WGRAD_SHAPES:
        if ni == 0:
            continue  # bias sums: tested against NumPy above
        G = np.zeros(fi * fo, dtype)
        for i0 in range(0, fi, ni):
            for j0 in range(0, fo, nj):
                a = dict(X=X, xo=0, D=D, do=0, ld=ld, nblk=nblk, G=G, go=0, fo=fo, i0=i0, j0=j0)
                _numba_kernel("wgrad", (ni, nj))(a)
        assert G.tobytes() == want.tobytes(), f"weight-gradient block {ni} x {nj}"


def test_the_block_shapes_follow_the_register_file():
    assert settings.vector_registers(frozenset({"avx2", "fma"})) == 16
    assert settings.vector_registers(frozenset({"avx512f", "avx2"})) == 32
    assert settings.vector_registers(frozenset()) == 16  # generic x86-64
    assert settings.vector_registers(frozenset({"avx2"}), "32") == 32
    assert settings.vector_registers(frozenset({"avx512f"}), " ") == 32  # blank: unset
    with pytest.raises(ValueError, match="FASTDEPTH_VECTOR_REGISTERS='24'.*16, 32"):
        settings.vector_registers(frozenset(), "24")
    here = settings.vector_registers(
        _compat.target_features(), os.environ.get(settings.REGISTERS_ENV)
    )
    assert settings.VECTOR_REGISTERS == here
    assert (_vec.ROWS, _vec.WG_BLOCK) == (settings.BLOCK.rows, settings.BLOCK.wgrad)
