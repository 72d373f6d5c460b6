"""Input checks shared by the public kernels and their reference twins.

Compiled code cannot raise helpful errors (and in the GIL-free trainer threads it should
not raise at all), so every public function validates here first and fails with a message that
says what was wrong and how to fix it.
"""

from __future__ import annotations

import numpy as np

from .layout import Layout
from .settings import ACTIVATIONS, DEFAULT_ALPHA
from .vocab import did_you_mean

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def writable(a: np.ndarray) -> np.ndarray:
    """``a``, or a copy of it when it is read-only (a ``RunResult``'s parameters, a
    ``Layout``'s table).

    A read-only array is another Numba type, so passing one compiles every kernel it
    reaches once more (``forward_flat`` 1.4 s, ``backward_flat`` 1.1 s) beside the
    trainer's; the inputs copied here are small.
    """
    return a if a.flags.writeable else a.copy()


def choice(kind: str, name: str, valid) -> None:
    """Raise ``ValueError`` for an unknown ``name``, listing valid ones and the closest."""
    if name in valid:
        return
    close = did_you_mean(name, valid)
    hint = f" Did you mean {close!r}?" if close else ""
    raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}.{hint}")


def activation_code(name: str, alpha: float | None) -> tuple[int, float]:
    """Map an activation name (and optional alpha) to the kernel code and alpha value."""
    choice("activation", name, ACTIVATIONS)
    a = DEFAULT_ALPHA.get(name, 0.0) if alpha is None else float(alpha)
    if not np.isfinite(a):
        raise ValueError(f"alpha must be finite, got {alpha}")
    return ACTIVATIONS[name], a


def saturating_range(name: str) -> tuple[float, float]:
    """``(centre, half-width)`` of a saturating activation's range; ValueError otherwise."""
    from .vocab import units_of

    choice("activation", name, ACTIVATIONS)
    entry = ACTIVATIONS.entry(name)
    if units_of(name) != "saturated":
        fits = ", ".join(ACTIVATIONS.where(units="saturated"))
        other = {"dead": "; its units die instead: use dead_fractions"}.get(entry.units, "")
        raise ValueError(f"saturation is measured for {fits} only, not {name!r}{other}")
    lo, hi = entry.out_range
    return 0.5 * (lo + hi), 0.5 * (hi - lo)


def float_array(name: str, a, ndim: int, dtype=None, shape=None, finite: bool = False):
    """Check that ``a`` is a C-contiguous float32/float64 ndarray of the given ndim/shape/dtype."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype not in FLOATS:
        raise TypeError(
            f"{name} must be float32 or float64, got {a.dtype}; use {name}.astype(np.float64)"
        )
    if dtype is not None and a.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {a.dtype} but the parameters are {dtype}: "
            "all arrays of a call share one dtype"
        )
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")
    if not a.flags.writeable and name in ("out", "Z", "H", "D", "grad", "dlogits", "dpred"):
        raise ValueError(f"{name} must be writeable")
    if finite and not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); clean the input first")
    return a


def layout_arg(layout) -> Layout:
    if not isinstance(layout, Layout):
        raise TypeError(f"layout must be a fastdepth.kernels.Layout, got {type(layout).__name__}")
    return layout


def residual_arg(layout: Layout, residual: int) -> int:
    """Validate the residual block size against the layout's widths."""
    r = int(residual)
    if r < 0:
        raise ValueError(f"residual must be 0 (off) or a block size >= 1, got {residual}")
    if r > 0:
        w = layout.widths
        for e in range(r, len(w), r):
            if w[e] != w[e - r]:
                raise ValueError(
                    f"residual block of size {r} adds hidden layer {e - r} (width {w[e - r]}) "
                    f"to hidden layer {e} (width {w[e]}): residual connections need equal widths"
                )
    return r


def samples(layout: Layout, X: np.ndarray, params: np.ndarray) -> int:
    float_array("params", params, 1, shape=(layout.n_params,))
    float_array("X", X, 2, dtype=params.dtype, finite=True)
    if X.shape[0] != layout.n_in:
        raise ValueError(
            f"X must be feature-major with shape (n_in={layout.n_in}, n_samples), got {X.shape};"
            " pass np.ascontiguousarray(X_samples_by_features.T)"
        )
    if X.shape[1] < 1:
        raise ValueError("X has no samples")
    if not np.all(np.isfinite(params)):
        raise ValueError("params contain NaN or inf; re-initialise the network")
    return X.shape[1]


def buffer(name: str, a, shape, dtype):
    """Validate a preallocated output buffer, or allocate one when ``a`` is None."""
    if a is None:
        return np.empty(shape, dtype=dtype)
    return float_array(name, a, len(shape), dtype=dtype, shape=shape)


def positive(name: str, v: float, allow_zero: bool = False) -> float:
    v = float(v)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {v}")
    return v


# --- argument sets of the public kernels (shared by api.py and reference.py) ---


def check_forward(params, layout, X, activation, alpha, residual, Z, H):
    """Validate :func:`forward` arguments; return ``(n, code, alpha, r, Z, H)``."""
    layout = layout_arg(layout)
    n = samples(layout, X, params)
    code, a = activation_code(activation, alpha)
    r = residual_arg(layout, residual)
    shape = (layout.n_units, n)
    return n, code, a, r, buffer("Z", Z, shape, params.dtype), buffer("H", H, shape, params.dtype)


def check_backward(params, layout, X, Z, H, dout, activation, alpha, residual, grad, D):
    """Validate :func:`backward` arguments; return ``(n, code, alpha, r, grad, D)``."""
    layout = layout_arg(layout)
    n = samples(layout, X, params)
    code, a = activation_code(activation, alpha)
    r = residual_arg(layout, residual)
    shape = (layout.n_units, n)
    float_array("Z", Z, 2, dtype=params.dtype, shape=shape)
    float_array("H", H, 2, dtype=params.dtype, shape=shape)
    float_array("dout", dout, 2, dtype=params.dtype, shape=(layout.n_out, n), finite=True)
    grad = buffer("grad", grad, (layout.n_params,), params.dtype)
    return n, code, a, r, grad, buffer("D", D, shape, params.dtype)


def check_loss(out_name, z, y, dz):
    """Validate a loss call: 1-D logits / predictions and targets of one dtype."""
    float_array("logits", z, 1)
    float_array("y", y, 1, dtype=z.dtype, shape=z.shape, finite=True)
    if z.shape[0] < 1:
        raise ValueError("no samples")
    return buffer(out_name, dz, z.shape, z.dtype)


def check_optimizer(params, grad, *state):
    float_array("params", params, 1)
    float_array("grad", grad, 1, dtype=params.dtype, shape=params.shape)
    for i, s in enumerate(state):
        float_array(f"state{i}", s, 1, dtype=params.dtype, shape=params.shape)


def check_units(name, A, layout):
    layout = layout_arg(layout)
    float_array(name, A, 2)
    if A.shape[0] != layout.n_units:
        raise ValueError(f"{name} must have shape (n_units={layout.n_units}, n), got {A.shape}")
    return layout


def check_batch(params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte,
                tel, tel_off, status, div_step):  # fmt: skip
    """Validate the packed inputs of ``train_batch`` (built by ``fastdepth.engine``)."""
    from .columns import (
        F_SHARP_TOL,
        I_ACT,
        I_BATCH,
        I_DATA,
        I_EVAL,
        I_LOG,
        I_LOSS,
        I_LR_RULE,
        I_OPT,
        I_SCHED,
        I_SHARP,
        I_SHARP_ITERS,
        I_SHARP_K,
        I_SNAP,
        I_STEPS,
        N_DINFO,
        N_FCFG,
        N_ICFG,
    )
    from .settings import ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEDULES
    from .telemetry import MAX_SHARPNESS_K, telemetry_size
    from .vocab import LR_RULES

    float_array("params", params, 1)
    dt = params.dtype
    for name, a in (("xtr", xtr), ("ytr", ytr), ("xte", xte), ("yte", yte)):
        float_array(name, a, 1, dtype=dt, finite=True)
    float_array("fcfg", fcfg, 2, dtype=np.dtype(np.float64))
    float_array("tel", tel, 1, dtype=np.dtype(np.float64))
    if not np.all(np.isfinite(params)):
        raise ValueError("initial params contain NaN or inf")
    ints = {"p_off": p_off, "t_off": t_off, "tables": tables, "icfg": icfg, "dinfo": dinfo,
            "tel_off": tel_off, "status": status, "div_step": div_step}  # fmt: skip
    for name, a in ints.items():
        if not isinstance(a, np.ndarray) or a.dtype != np.int64 or not a.flags.c_contiguous:
            raise TypeError(f"{name} must be a C-contiguous int64 array")
    if not isinstance(keys, np.ndarray) or keys.dtype != np.uint64:
        raise TypeError("keys must be a uint64 array")
    nn = p_off.shape[0] - 1
    if nn < 1:
        raise ValueError("the batch holds no networks")
    shapes = {"t_off": (nn + 1,), "icfg": (nn, N_ICFG), "fcfg": (nn, N_FCFG), "keys": (nn,),
              "tel_off": (nn,), "status": (nn,), "div_step": (nn,)}  # fmt: skip
    arrays = {**ints, "fcfg": fcfg, "keys": keys}
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arrays[name].shape}")
    if dinfo.ndim != 2 or dinfo.shape[1] != N_DINFO:
        raise ValueError(f"dinfo must have shape (n_datasets, {N_DINFO})")
    if p_off[0] != 0 or p_off[-1] != params.shape[0] or np.any(np.diff(p_off) < 1):
        raise ValueError("p_off must rise from 0 to len(params)")
    if t_off[0] != 0 or t_off[-1] != tables.shape[0] or np.any(np.diff(t_off) < 2):
        raise ValueError("t_off must rise from 0 to len(tables), >= 2 layers per network")
    ranges = {I_ACT: len(ACTIVATIONS), I_LOSS: len(LOSSES), I_OPT: len(OPTIMIZERS),
              I_SCHED: len(SCHEDULES), I_DATA: dinfo.shape[0],
              I_LR_RULE: len(LR_RULES)}  # fmt: skip
    for col, hi in ranges.items():
        if np.any(icfg[:, col] < 0) or np.any(icfg[:, col] >= hi):
            raise ValueError(f"icfg column {col} holds a code outside [0, {hi})")
    for col in (I_BATCH, I_STEPS, I_LOG, I_EVAL):
        if np.any(icfg[:, col] < 1):
            raise ValueError(f"icfg column {col} must be >= 1")
    if np.any(icfg[:, I_SNAP] < 0):
        raise ValueError(f"icfg column {I_SNAP} (snapshot_every) must be >= 0 (0 = off)")
    if np.any(icfg[:, I_SHARP] < 0):
        raise ValueError(f"icfg column {I_SHARP} (sharpness_every) must be >= 0 (0 = off)")
    k_sharp = icfg[:, I_SHARP_K]
    if np.any(k_sharp < 1) or np.any(k_sharp > MAX_SHARPNESS_K):
        raise ValueError(f"icfg column {I_SHARP_K} (sharpness_k) must be in [1, "
                         f"{MAX_SHARPNESS_K}]")  # fmt: skip
    if np.any(icfg[:, I_SHARP_ITERS] < k_sharp):
        raise ValueError(f"icfg column {I_SHARP_ITERS} (sharpness_iters) must be >= sharpness_k")
    if np.any(fcfg[:, F_SHARP_TOL] < 0):
        raise ValueError(f"fcfg column {F_SHARP_TOL} (sharpness_tol) must be >= 0")
    for k in range(nn):
        tab = tables[t_off[k] : t_off[k + 1]]
        d = icfg[k, I_DATA]
        if tab[0, 0] != dinfo[d, 0] or np.any(tab[1:, 0] != tab[:-1, 1]) or tab[-1, 1] != 1:
            raise ValueError(f"network {k}: layer table does not chain from n_in to 1 output")
        if tab[-1, 3] + 1 != p_off[k + 1] - p_off[k]:
            raise ValueError(f"network {k}: layer table does not match its parameter count")
        lambda0 = icfg[k, I_LR_RULE] == LR_RULES["sharpness"]
        need = telemetry_size(tab.shape[0], icfg[k, I_STEPS], icfg[k, I_LOG], icfg[k, I_EVAL],
                              p_off[k + 1] - p_off[k], icfg[k, I_SNAP], icfg[k, I_SHARP],
                              icfg[k, I_SHARP_K], lambda0)  # fmt: skip
        if tel_off[k] < 0 or tel_off[k] + need > tel.shape[0]:
            raise ValueError(f"network {k}: telemetry slot out of bounds")
    if not np.all(fcfg[:, 0] > 0) or not np.all(np.isfinite(fcfg)):
        raise ValueError("learning rates must be > 0 and every float setting finite")
