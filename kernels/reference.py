"""Plain NumPy twins of every public kernel: the spec the compiled core must match.

Same names, same signatures, same outputs as :mod:`fastdepth.kernels`; written for
obviousness, not speed (one matrix product per layer, no blocking, no fusion).
Its gradients are themselves checked against central finite differences in
``tests/test_reference_gradcheck.py``.
"""

from __future__ import annotations

import math

import numpy as np

from . import _validate as v
from .columns import (
    D_NIN,
    D_NTE,
    D_NTR,
    D_XTE,
    D_XTR,
    D_YTE,
    D_YTR,
    F_ALPHA,
    F_BETA1,
    F_BETA2,
    F_CLIP,
    F_EPS,
    F_LR,
    F_MOM,
    F_SHARP_TOL,
    F_WD,
    I_ACT,
    I_BATCH,
    I_DATA,
    I_EVAL,
    I_LOG,
    I_LOSS,
    I_LR_RULE,
    I_OPT,
    I_RBLOCK,
    I_SCHED,
    I_SHARP,
    I_SHARP_ITERS,
    I_SHARP_K,
    I_SNAP,
    I_STEPS,
)
from .layout import Layout
from .layout import skip_source as _skip_source
from .telemetry import (
    EVAL_DEAD,
    EVAL_TEST_ACC,
    EVAL_TEST_LOSS,
    EVAL_TRAIN_ACC,
    EVAL_TRAIN_LOSS,
    LOG_GRAD_NORM,
    LOG_LAYERS,
    LOG_LOSS,
    TelemetryLayout,
    eval_act_sq,
    init_offsets,
)
from .vocab import (
    ACTIVATIONS,
    LOSSES,
    LR_RULES,
    OPTIMIZERS,
    SATURATION,
    SCHEDULES,
    STATUSES,
    units_of,
)

_erf = np.frompyfunc(math.erf, 1, 1)


def _sigmoid(z):
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _act(z, code, alpha):
    name = ACTIVATIONS.name_of(code)  # raises for a code outside the table
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.where(z > 0, z, z * 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "elu":
        with np.errstate(over="ignore"):
            return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))
    if name == "gelu":
        return (0.5 * z * (1 + _erf(z / math.sqrt(2)).astype(np.float64))).astype(z.dtype)
    if name == "silu":
        return z * _sigmoid(z)
    raise ValueError(f"the reference has no activation {name!r} (code {code})")


def _dact(z, code, alpha):
    name = ACTIVATIONS.name_of(code)
    one = np.ones_like(z)
    if name == "identity":
        return one
    if name == "relu":
        return np.where(z > 0, one, 0 * one)
    if name == "leaky_relu":
        return np.where(z > 0, one, alpha * one)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "sigmoid":
        s = _sigmoid(z)
        return s * (1 - s)
    if name == "elu":
        return np.where(z > 0, one, alpha * np.exp(np.minimum(z, 0)))
    if name == "gelu":
        z64 = z.astype(np.float64)
        cdf = 0.5 * (1 + _erf(z64 / math.sqrt(2)).astype(np.float64))
        pdf = np.exp(-0.5 * z64 * z64) / math.sqrt(2 * math.pi)
        return (cdf + z64 * pdf).astype(z.dtype)
    if name == "silu":
        s = _sigmoid(z)
        return s * (1 + z * (1 - s))
    raise ValueError(f"the reference has no activation derivative {name!r} (code {code})")


def _rows(layout: Layout):
    """Row slice of every layer in the (n_units, n) buffers."""
    out, u = [], 0
    for fo in layout.table[:, 1]:
        out.append(slice(u, u + int(fo)))
        u += int(fo)
    return out


def forward(params, layout, X, activation="relu", *, alpha=None, residual=0, Z=None, H=None):
    """Reference of :func:`fastdepth.kernels.forward`."""
    n, code, a, r, Z, H = v.check_forward(params, layout, X, activation, alpha, residual, Z, H)
    rows = _rows(layout)
    nh = layout.depth
    h = X
    for k in range(layout.n_layers):
        W, b = layout.weight_view(params, k), layout.bias_view(params, k)
        z = W.T @ h + b[:, None]
        if k < nh:
            src = _skip_source(k, nh, r)
            if src >= 0:
                z = z + H[rows[src]]
            Z[rows[k]] = z
            H[rows[k]] = _act(z, code, a)
        else:
            Z[rows[k]] = z
            H[rows[k]] = z
        h = H[rows[k]]
    return Z, H


def backward(
    params, layout, X, Z, H, dout, activation="relu", *, alpha=None, residual=0, grad=None, D=None
):
    """Reference of :func:`fastdepth.kernels.backward`."""
    n, code, a, r, grad, D = v.check_backward(
        params, layout, X, Z, H, dout, activation, alpha, residual, grad, D
    )
    rows = _rows(layout)
    nh = layout.depth
    # dh[k] accumulates dL/dh_k from every path: through W_{k+1} and through a skip.
    dh = {nh: dout.copy()}
    for k in range(nh, -1, -1):
        if k < nh:
            D[rows[k]] = dh[k] * _dact(Z[rows[k]], code, a)
        else:
            D[rows[k]] = dh[k]
        d = D[rows[k]]
        src = _skip_source(k, nh, r) if k < nh else -1
        if src >= 0:
            dh[src] = dh.get(src, 0) + d
        inp = X if k == 0 else H[rows[k - 1]]
        layout.weight_view(grad, k)[...] = inp @ d.T
        layout.bias_view(grad, k)[...] = d.sum(axis=1)
        if k > 0:
            dh[k - 1] = dh.get(k - 1, 0) + layout.weight_view(params, k) @ d
    return grad, D


def activation(z, name, alpha=None, out=None):
    """Reference of :func:`fastdepth.kernels.activation`."""
    code, a = v.activation_code(name, alpha)
    v.float_array("z", z, z.ndim if isinstance(z, np.ndarray) else 1)
    out = v.buffer("out", out, z.shape, z.dtype)
    out[...] = _act(z, code, a)
    return out


def activation_grad(z, name, alpha=None, out=None):
    """Reference of :func:`fastdepth.kernels.activation_grad`."""
    code, a = v.activation_code(name, alpha)
    v.float_array("z", z, z.ndim if isinstance(z, np.ndarray) else 1)
    out = v.buffer("out", out, z.shape, z.dtype)
    out[...] = _dact(z, code, a)
    return out


def bce_with_logits(logits, y, dlogits=None):
    """Reference of :func:`fastdepth.kernels.bce_with_logits`."""
    d = v.check_loss("dlogits", logits, y, dlogits)
    z, n = logits.astype(np.float64), logits.shape[0]
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    d[...] = (_sigmoid(logits) - y) / n
    return float(loss), d


def mse(pred, y, dpred=None):
    """Reference of :func:`fastdepth.kernels.mse`."""
    d = v.check_loss("dpred", pred, y, dpred)
    r = pred - y
    d[...] = 2 * r / pred.shape[0]
    return float(np.mean(r.astype(np.float64) ** 2)), d


def accuracy(logits, y):
    """Reference of :func:`fastdepth.kernels.accuracy`."""
    v.check_loss("dlogits", logits, y, None)
    return float(np.mean((logits > 0) == (y > 0.5)))


def exact_sum(x):
    """Reference of :func:`fastdepth.kernels.exact_sum`: ``math.fsum`` itself."""
    return math.fsum(np.asarray(x, dtype=np.float64).ravel())


def sgd_step(params, grad, lr, weight_decay=0.0):
    """Reference of :func:`fastdepth.kernels.sgd_step`."""
    v.check_optimizer(params, grad)
    params -= v.positive("lr", lr) * (grad + weight_decay * params)


def momentum_step(params, grad, buf, lr, momentum=0.9, weight_decay=0.0, t=1):
    """Reference of :func:`fastdepth.kernels.momentum_step`."""
    v.check_optimizer(params, grad, buf)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if int(t) < 1:
        raise ValueError(f"t counts steps from 1, got {t}")
    g = grad + weight_decay * params
    buf[...] = g if t == 1 else momentum * buf + g
    params -= v.positive("lr", lr) * buf


def adam_step(params, grad, m, v_, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Reference of :func:`fastdepth.kernels.adam_step` (torch.optim.Adam's arithmetic)."""
    v.check_optimizer(params, grad, m, v_)
    for name, b in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= b < 1:
            raise ValueError(f"{name} must be in [0, 1), got {b}")
    if int(t) < 1:
        raise ValueError(f"t counts steps from 1, got {t}")
    g = grad + weight_decay * params
    m[...] = beta1 * m + (1 - beta1) * g
    v_[...] = beta2 * v_ + (1 - beta2) * g * g
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    params -= (v.positive("lr", lr) / bc1) * (m / (np.sqrt(v_) / math.sqrt(bc2) + eps))


def clip_grad_norm(grad, max_norm):
    """Reference of :func:`fastdepth.kernels.clip_grad_norm`."""
    v.float_array("grad", grad, 1)
    total = float(np.linalg.norm(grad.astype(np.float64)))
    coef = v.positive("max_norm", max_norm) / (total + 1e-6)
    if coef < 1:
        grad *= coef
    return total


def layer_grad_norms(grad, layout):
    """Reference of :func:`fastdepth.kernels.layer_grad_norms`."""
    layout = v.layout_arg(layout)
    v.float_array("grad", grad, 1, shape=(layout.n_params,))
    g = grad.astype(np.float64)
    per = np.array([np.linalg.norm(layout.weight_view(g, k)) for k in range(layout.n_layers)])
    return per, float(np.linalg.norm(g))


def signal_norms(D, layout):
    """Reference of :func:`fastdepth.kernels.signal_norms`."""
    layout = v.check_units("D", D, layout)
    return np.array([np.linalg.norm(D[r].astype(np.float64)) for r in _rows(layout)])


def activation_sq_means(H, layout):
    """Reference of :func:`fastdepth.kernels.activation_sq_means`."""
    layout = v.check_units("H", H, layout)
    return np.array([np.mean(H[r].astype(np.float64) ** 2) for r in _rows(layout)[:-1]])


def dead_fractions(Z, layout):
    """Reference of :func:`fastdepth.kernels.dead_fractions`."""
    layout = v.check_units("Z", Z, layout)
    fr = np.array([np.mean(np.all(Z[r] <= 0, axis=1)) for r in _rows(layout)[:-1]])
    return fr, bool(np.any(fr == 1.0))


def saturated_fractions(H, layout, activation="tanh"):
    """Reference of :func:`fastdepth.kernels.saturated_fractions`."""
    centre, half = v.saturating_range(activation)
    layout = v.check_units("H", H, layout)
    bound = SATURATION * half
    fr = np.array([np.mean(np.all(np.abs(H[r].astype(np.float64) - centre) > bound, axis=1))
                   for r in _rows(layout)[:-1]])  # fmt: skip
    return fr, bool(np.any(fr == 1.0))


def _unit_fractions(Z, H, layout, code):
    """Twin of ``diagnostics.unit_fractions_flat``: ``(fractions (depth,), flag)``; the
    measure is the activation's (``vocab.Activation.units``)."""
    name = ACTIVATIONS.name_of(code)
    units = units_of(name)
    if units == "dead":
        fr, full = dead_fractions(Z, layout)
        return fr, float(full)
    if units == "saturated":
        fr, full = saturated_fractions(H, layout, name)
        return fr, float(full)
    if units == "none":
        return np.full(layout.depth, np.nan), np.nan
    raise ValueError(f"the reference has no unit state {units!r} (activation {name!r})")


_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def permutation(key, epoch, n):
    """Reference of :func:`fastdepth.kernels.permutation` (Python integers, no NumPy RNG)."""
    if not 0 <= int(key) < 2**64:
        raise ValueError(f"key must be in [0, 2**64), got {key}")
    if int(epoch) < 0 or int(n) < 1:
        raise ValueError(f"need epoch >= 0 and n >= 1, got epoch={epoch}, n={n}")
    out = list(range(int(n)))
    base = _splitmix64(int(key) ^ _splitmix64(int(epoch)))
    for i in range(int(n) - 1, 0, -1):
        j = _splitmix64((base + i) & _MASK) % (i + 1)
        out[i], out[j] = out[j], out[i]
    return np.array(out, dtype=np.int64)


def _loss_fn(code):
    name = LOSSES.name_of(code)
    if name == "bce":
        return bce_with_logits
    if name == "mse":
        return mse
    raise ValueError(f"the reference has no loss {name!r} (code {code})")


def _scheduled_lr(code, lr, t, n_steps):
    name = SCHEDULES.name_of(code)
    if name == "constant":
        return lr
    if name == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * t / n_steps))
    raise ValueError(f"the reference has no schedule {name!r} (code {code})")


def _optimizer_step(code, P, grad, s1, s2, t, lr, fc):
    name = OPTIMIZERS.name_of(code)
    wd = float(fc[F_WD])
    if name == "sgd":
        return sgd_step(P, grad, lr, wd)
    if name == "momentum":
        return momentum_step(P, grad, s1, lr, fc[F_MOM], wd, t)
    if name == "adam":
        return adam_step(P, grad, s1, s2, t, lr, fc[F_BETA1], fc[F_BETA2], fc[F_EPS], wd)
    raise ValueError(f"the reference has no optimizer {name!r} (code {code})")


def _train_one(P, layout, ic, fc, key, Xtr, ytr, Xte, yte, tel, to):
    """Reference twin of ``trainer.train_one``: one network, plain NumPy, same semantics."""
    act = ACTIVATIONS.name_of(int(ic[I_ACT]))
    lossfn = _loss_fn(int(ic[I_LOSS]))
    has_acc = LOSSES.entry(LOSSES.name_of(int(ic[I_LOSS]))).has_accuracy
    alpha, r = float(fc[F_ALPHA]), int(ic[I_RBLOCK])
    n_steps, le, ee = int(ic[I_STEPS]), int(ic[I_LOG]), int(ic[I_EVAL])
    nl, nh = layout.n_layers, layout.depth
    by_rate = LR_RULES.name_of(int(ic[I_LR_RULE])) == "sharpness"
    tl = TelemetryLayout(nl, n_steps, le, ee, layout.n_params, int(ic[I_SNAP]),
                         sharpness_every=int(ic[I_SHARP]), sharpness_k=int(ic[I_SHARP_K]),
                         lambda0=by_rate)  # fmt: skip
    log, ev, init = tl.split(tel, to)
    snaps, snap_every = tl.snapshots(tel, to), tl.snapshot_every
    sharp, sharp_every, sk = tl.sharpness(tel, to), tl.sharpness_every, tl.sharpness_k
    ritz = None  # the previous measurement's top Ritz vectors (lanczos.top_eigen_flat)
    lr0 = float(fc[F_LR])
    i_gn, i_sig, i_act, i_dead, i_born, _ = init_offsets(nl)
    e_act = eval_act_sq(nl)
    ntr = Xtr.shape[1]
    bs = min(int(ic[I_BATCH]), ntr)
    full = bs >= ntr
    spe = -(-ntr // bs)
    s1, s2 = np.zeros_like(P), np.zeros_like(P)

    def evaluate(X, y):
        Z, H = forward(P, layout, X, act, alpha=alpha, residual=r)
        loss, _ = lossfn(np.ascontiguousarray(Z[-1]), y)
        acc = accuracy(np.ascontiguousarray(Z[-1]), y) if has_acc else np.nan
        return loss, acc, Z, H

    for t in range(n_steps + 1):
        if snaps.shape[0] and (t % snap_every == 0 or t == n_steps):
            snaps[t // snap_every if t < n_steps else -1] = P
        if t % ee == 0 or t == n_steps:
            row = ev[t // ee if t < n_steps else -1]
            row[EVAL_TRAIN_LOSS], row[EVAL_TRAIN_ACC], Z, H = evaluate(Xtr, ytr)
            row[EVAL_DEAD:e_act], born = _unit_fractions(Z, H, layout, int(ic[I_ACT]))
            row[e_act : e_act + nh] = activation_sq_means(H, layout)
            if t == 0:
                init[i_act:i_dead] = row[e_act : e_act + nh]
                init[i_dead:i_born] = row[EVAL_DEAD:e_act]
                init[i_born] = born
            row[EVAL_TEST_LOSS], row[EVAL_TEST_ACC], _, _ = evaluate(Xte, yte)
        # the whole training set's Hessian, every sharpness_every steps and after the last
        # (only at step 0 when just the rate rule needs lambda_0)
        due = (t % sharp_every == 0 or t == n_steps) if sharp_every > 0 else t == 0
        if sharp.shape[0] and due:
            srow = sharp[-1 if t == n_steps else t // max(sharp_every, 1)]
            # warm-started from the previous measurement's top Ritz vectors, as the trainer
            res, ritz = _lanczos(P, layout, Xtr, ytr, act, LOSSES.name_of(int(ic[I_LOSS])),
                                 alpha if ACTIVATIONS.entry(act).alpha is not None else None,
                                 r, sk, int(key), int(ic[I_SHARP_ITERS]),
                                 float(fc[F_SHARP_TOL]), ritz)  # fmt: skip
            srow[:sk], srow[sk : 2 * sk], srow[2 * sk] = res.values, res.residuals, res.iterations
            if t == 0 and by_rate:
                if not (np.isfinite(res.values[0]) and res.values[0] > 0):
                    return STATUSES["no_curvature"], -1
                lr0 = float(fc[F_LR]) / res.values[0]
        if t == n_steps:
            break
        if full:
            Xb, yb = Xtr, ytr
        else:
            b = t % spe
            perm = permutation(int(key), t // spe, ntr)[b * bs : b * bs + bs]
            Xb, yb = np.ascontiguousarray(Xtr[:, perm]), np.ascontiguousarray(ytr[perm])
        Z, H = forward(P, layout, Xb, act, alpha=alpha, residual=r)
        loss, dlog = lossfn(np.ascontiguousarray(Z[-1]), yb)
        grad, D = backward(P, layout, Xb, Z, H, dlog[None, :], act, alpha=alpha, residual=r)
        per, total = layer_grad_norms(grad, layout)
        if t % le == 0:
            lrow = log[t // le]
            lrow[LOG_LOSS], lrow[LOG_GRAD_NORM], lrow[LOG_LAYERS:] = loss, total, per
        if t == 0:
            init[i_gn:i_sig] = per
            init[i_sig:i_act] = signal_norms(D, layout)
        if not (np.isfinite(loss) and np.isfinite(total)):
            return STATUSES["diverged"], t
        if fc[F_CLIP] > 0:
            clip_grad_norm(grad, fc[F_CLIP])
        lr = _scheduled_lr(int(ic[I_SCHED]), lr0, t, n_steps)
        _optimizer_step(int(ic[I_OPT]), P, grad, s1, s2, t + 1, lr, fc)
    return STATUSES["ok"], -1


def train_batch(
    params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte, tel, tel_off,
    status, div_step, threads=None, on_done=None,
):  # fmt: skip
    """Reference of :func:`fastdepth.kernels.train_batch`: a plain loop over networks
    (``on_done`` is called after each one)."""
    v.check_batch(params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte,
                  tel, tel_off, status, div_step)  # fmt: skip
    for k in range(p_off.shape[0] - 1):
        tab = tables[t_off[k] : t_off[k + 1]]
        layout = Layout(int(tab[0, 0]), [int(w) for w in tab[:-1, 1]], int(tab[-1, 1]))
        d = dinfo[icfg[k, I_DATA]]
        nin, ntr, nte = int(d[D_NIN]), int(d[D_NTR]), int(d[D_NTE])
        Xtr = xtr[d[D_XTR] : d[D_XTR] + nin * ntr].reshape(nin, ntr)
        Xte = xte[d[D_XTE] : d[D_XTE] + nin * nte].reshape(nin, nte)
        P = params[p_off[k] : p_off[k + 1]]
        status[k], div_step[k] = _train_one(
            P, layout, icfg[k], fcfg[k], keys[k], Xtr, ytr[d[D_YTR] : d[D_YTR] + ntr],
            Xte, yte[d[D_YTE] : d[D_YTE] + nte], tel, int(tel_off[k]),
        )  # fmt: skip
        if on_done is not None:
            on_done(np.array([k], dtype=np.int64))


# --- curvature: twins of fastdepth.kernels.curvature (hvp, top_eigenvalues) -------------


def _d2act(z, code, alpha):
    """``act''(z)`` in float64 (piecewise-linear codes: 0, including at the kink)."""
    z = z.astype(np.float64)
    if code in (0, 1, 2):
        return z * 0
    if code == 3:
        t = np.tanh(z)
        return -2 * t * (1 - t * t)
    if code == 4:
        s = _sigmoid(z)
        return s * (1 - s) * (1 - 2 * s)
    if code == 5:
        return np.where(z > 0, 0.0, alpha * np.exp(np.minimum(z, 0)))
    if code == 6:
        return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * (2 - z * z)
    if code == 7:
        s = _sigmoid(z)
        return s * (1 - s) * (2 + z * (1 - 2 * s))
    raise ValueError(f"no second derivative for activation code {code}")


def _d2loss(z, code):
    """``l''(z)`` per sample in float64: bce ``e / (1 + e)^2`` (``e = exp(-|z|)``), mse 2."""
    z = z.astype(np.float64)
    if code == 0:
        e = np.exp(-np.abs(z))
        return e / (1 + e) ** 2
    if code == 1:
        return np.full_like(z, 2.0)
    raise ValueError(f"no second derivative for loss code {code}")


def hvp(params, layout, X, y, v, activation="relu", loss="bce", *, alpha=None, residual=0,
        out=None):  # fmt: skip
    """Reference of :func:`fastdepth.kernels.hvp`: the R-operator, one layer at a time."""
    from . import _validate_curvature as vc

    layout, n, code, a, r, lc = vc.check_hvp(params, layout, X, y, activation, loss, alpha,
                                             residual)  # fmt: skip
    vc.check_vector("v", v, layout, params.dtype)
    out = np.empty_like(params) if out is None else vc.check_vector("out", out, layout,
                                                                     params.dtype)  # fmt: skip
    dt = params.dtype
    Z, H = forward(params, layout, X, activation, alpha=a, residual=r)
    rows, nh = _rows(layout), layout.depth
    W = [layout.weight_view(params, k) for k in range(layout.n_layers)]
    dW = [layout.weight_view(v, k) for k in range(layout.n_layers)]
    Rz, Rh = {}, {}
    for k in range(layout.n_layers):
        rz = dW[k].T @ (X if k == 0 else H[rows[k - 1]]) + layout.bias_view(v, k)[:, None]
        if k > 0:
            rz = rz + W[k].T @ Rh[k - 1]
        if k < nh:
            src = _skip_source(k, nh, r)
            if src >= 0:
                rz = rz + Rh[src]
            Rh[k] = _dact(Z[rows[k]], code, a) * rz
        Rz[k] = rz
    zout = np.ascontiguousarray(Z[rows[nh]][0])
    _, dout = (bce_with_logits if lc == 0 else mse)(zout, y)
    dh = {nh: dout[None, :]}
    Rdh = {}
    for k in range(nh, -1, -1):
        if k < nh:
            z = Z[rows[k]]
            d = dh[k] * _dact(z, code, a)
            Rd = Rdh[k] * _dact(z, code, a) + (dh[k] * _d2act(z, code, a) * Rz[k]).astype(dt)
            src = _skip_source(k, nh, r)
            if src >= 0:
                dh[src] = dh.get(src, 0) + d
                Rdh[src] = Rdh.get(src, 0) + Rd
        else:
            d = dh[k]
            Rd = (_d2loss(zout, lc)[None, :] / n * Rz[k]).astype(dt)
        layout.bias_view(out, k)[...] = Rd.sum(axis=1)
        if k == 0:
            layout.weight_view(out, k)[...] = X @ Rd.T
        else:
            layout.weight_view(out, k)[...] = H[rows[k - 1]] @ Rd.T + Rh[k - 1] @ d.T
            dh[k - 1] = dh.get(k - 1, 0) + W[k] @ d
            Rdh[k - 1] = Rdh.get(k - 1, 0) + dW[k] @ d + W[k] @ Rd
    return out


def _start_vector(key, stream, n):
    """Twin of ``lanczos.start_vector``: uniform draws in [-1, 1) from (key, stream)."""
    salt = 0x4C414E435A4F5331
    base = _splitmix64(int(key) ^ _splitmix64(salt ^ int(stream)))
    u = [_splitmix64((base + i) & _MASK) >> 11 for i in range(n)]
    return 2.0 * (np.array(u, dtype=np.float64) / 2.0**53) - 1.0


WARM_BLEND = 0.1  # twin of lanczos.WARM_BLEND


def top_eigenvalues(params, layout, X, y, activation="relu", loss="bce", *, alpha=None,
                    residual=0, k=1, key=0, max_iter=20, tol=1e-4):  # fmt: skip
    """Reference of :func:`fastdepth.kernels.top_eigenvalues`: the same Lanczos iteration
    (start vector, full reorthogonalisation, stopping rule, restarts) in NumPy, with
    ``numpy.linalg.eigh`` on the tridiagonal."""
    return _lanczos(params, layout, X, y, activation, loss, alpha, residual, k, key, max_iter,
                    tol, None)[0]  # fmt: skip


def _lanczos(params, layout, X, y, activation, loss, alpha, residual, k, key, max_iter, tol,
             warm):  # fmt: skip
    """:func:`top_eigenvalues` started from ``warm`` (the previous solve's unit-norm Ritz
    sum, or None for the key's draw alone), as ``lanczos.top_eigen_flat``; returns the
    result and this solve's Ritz sum (the next warm start; None if the values are NaN)."""
    from . import _validate_curvature as vc

    layout, *_ = vc.check_hvp(params, layout, X, y, activation, loss, alpha, residual)
    k, key, max_iter, tol = vc.check_eigen(layout, k, key, max_iter, tol)
    npar = layout.n_params
    m = min(max_iter, npar)
    V = np.zeros((m, npar))
    al, be = np.zeros(m), np.zeros(m)
    vals, res = np.full(k, np.nan), np.full(k, np.nan)
    q = _start_vector(key, 0, npar)
    q /= np.sqrt(q @ q)
    if warm is not None:
        q = warm + WARM_BLEND * q
        q /= np.sqrt(q @ q)
    restarts = 0
    used, conv = m, False
    for j in range(m):
        V[j] = q
        w = hvp(params, layout, X, y, q.astype(params.dtype), activation, loss, alpha=alpha,
                residual=residual).astype(np.float64)  # fmt: skip
        al[j] = q @ w
        w -= al[j] * q
        if j > 0:
            w -= be[j - 1] * V[j - 1]
        for _ in range(2):
            w -= V[: j + 1].T @ (V[: j + 1] @ w)
        be[j] = np.sqrt(w @ w)
        if not (np.isfinite(al[j]) and np.isfinite(be[j])):
            return vc.EigenResult(np.full(k, np.nan), np.full(k, np.nan), j + 1, False), None
        T = np.diag(al[: j + 1]) + np.diag(be[:j], 1) + np.diag(be[:j], -1)
        theta, S = np.linalg.eigh(T)
        top = np.argsort(-theta, kind="stable")[: min(k, j + 1)]
        vals[: top.size] = theta[top]
        res[: top.size] = np.abs(be[j] * S[-1, top])
        tnorm = np.max(np.abs(theta))
        if top.size == k and np.all(res <= tol * tnorm):
            used, conv = j + 1, True
            break
        if j == m - 1:
            break
        if be[j] > 1e-12 * tnorm:
            q = w / be[j]
        else:
            be[j] = 0.0
            restarts += 1
            q = _start_vector(key, restarts, npar)
            for _ in range(2):
                q -= V[: j + 1].T @ (V[: j + 1] @ q)
            q /= np.sqrt(q @ q)
    # the next warm start: the top k Ritz vectors, each with its first Krylov coordinate >= 0
    s = S[:, top] * np.where(S[0, top] < 0, -1.0, 1.0)
    nxt = V[:used].T @ s.sum(axis=1)
    return vc.EigenResult(vals, res, used, conv), nxt / np.sqrt(nxt @ nxt)


# --- activation-pattern hashes (kernels/regions.py) -------------------------------------

_HASH_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_HASH_M1 = np.uint64(0xBF58476D1CE4E5B9)
_HASH_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix64_array(x: np.ndarray) -> np.ndarray:
    """:func:`_splitmix64` of every element of a uint64 array (NumPy wraps mod 2**64)."""
    z = x + _HASH_GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _HASH_M1
    z = (z ^ (z >> np.uint64(27))) * _HASH_M2
    return z ^ (z >> np.uint64(31))


def pattern_hashes(params, layout, X, cuts, activation="relu", *, alpha=None, residual=0,
                   out=None):  # fmt: skip
    """Reference of :func:`fastdepth.kernels.pattern_hashes`: the whole forward pass at once,
    then one pattern bit at a time."""
    from .regions import check_pattern_hashes

    n, _, a, r, c, out = check_pattern_hashes(
        params, layout, X, cuts, activation, alpha, residual, out
    )
    Z, _ = forward(params, layout, X, activation, alpha=a, residual=r)
    pieces = (Z[: sum(layout.widths), :, None] > c).sum(axis=2).astype(np.uint64)
    bits = len(c).bit_length()
    stream = [(pieces[u] >> np.uint64(b)) & np.uint64(1) for u in range(len(pieces))
              for b in range(bits)]  # fmt: skip
    n_words = max(1, -(-len(stream) // 64))
    h = np.zeros(n, dtype=np.uint64)
    for j in range(n_words):
        word = np.zeros(n, dtype=np.uint64)
        for i, bit in enumerate(stream[64 * j : 64 * j + 64]):
            word |= bit << np.uint64(i)
        h = _splitmix64_array(h ^ word)
    out[...] = h
    return out
