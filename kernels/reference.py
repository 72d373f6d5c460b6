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
from .layout import Layout
from .layout import skip_source as _skip_source
from .telemetry import telemetry_layout

_erf = np.frompyfunc(math.erf, 1, 1)


def _sigmoid(z):
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _act(z, code, alpha):
    if code == 0:
        return z.copy()
    if code == 1:
        return np.where(z > 0, z, z * 0)
    if code == 2:
        return np.where(z > 0, z, alpha * z)
    if code == 3:
        return np.tanh(z)
    if code == 4:
        return _sigmoid(z)
    if code == 5:
        with np.errstate(over="ignore"):
            return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))
    if code == 6:
        return (0.5 * z * (1 + _erf(z / math.sqrt(2)).astype(np.float64))).astype(z.dtype)
    return z * _sigmoid(z)


def _dact(z, code, alpha):
    one = np.ones_like(z)
    if code == 0:
        return one
    if code == 1:
        return np.where(z > 0, one, 0 * one)
    if code == 2:
        return np.where(z > 0, one, alpha * one)
    if code == 3:
        return 1 - np.tanh(z) ** 2
    if code == 4:
        s = _sigmoid(z)
        return s * (1 - s)
    if code == 5:
        return np.where(z > 0, one, alpha * np.exp(np.minimum(z, 0)))
    if code == 6:
        z64 = z.astype(np.float64)
        cdf = 0.5 * (1 + _erf(z64 / math.sqrt(2)).astype(np.float64))
        pdf = np.exp(-0.5 * z64 * z64) / math.sqrt(2 * math.pi)
        return (cdf + z64 * pdf).astype(z.dtype)
    s = _sigmoid(z)
    return s * (1 + z * (1 - s))


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


def _train_one(P, layout, ic, fc, key, Xtr, ytr, Xte, yte, tel, to):
    """Reference twin of ``trainer.train_one``: one network, plain NumPy, same semantics."""
    from .settings import ACTIVATIONS, LOSSES
    from .trainer import (
        F_ALPHA,
        F_BETA1,
        F_BETA2,
        F_CLIP,
        F_EPS,
        F_LR,
        F_MOM,
        F_WD,
        I_ACT,
        I_BATCH,
        I_EVAL,
        I_LOG,
        I_LOSS,
        I_OPT,
        I_RBLOCK,
        I_SCHED,
        I_STEPS,
    )

    act = {c: n for n, c in ACTIVATIONS.items()}[int(ic[I_ACT])]
    loss_name = {c: n for n, c in LOSSES.items()}[int(ic[I_LOSS])]
    alpha, r = float(fc[F_ALPHA]), int(ic[I_RBLOCK])
    n_steps, le, ee = int(ic[I_STEPS]), int(ic[I_LOG]), int(ic[I_EVAL])
    nl, nh = layout.n_layers, layout.depth
    lay = telemetry_layout(nl, n_steps, le, ee)
    log = tel[to + lay["log"][0] : to + lay["eval"][0]].reshape(lay["log"][1])
    ev = tel[to + lay["eval"][0] : to + lay["init"][0]].reshape(lay["eval"][1])
    init = tel[to + lay["init"][0] : to + lay["size"]]
    ntr = Xtr.shape[1]
    bs = min(int(ic[I_BATCH]), ntr)
    full = bs >= ntr
    spe = -(-ntr // bs)
    s1, s2 = np.zeros_like(P), np.zeros_like(P)
    lossfn = bce_with_logits if loss_name == "bce" else mse

    def evaluate(X, y):
        Z, H = forward(P, layout, X, act, alpha=alpha, residual=r)
        loss, _ = lossfn(np.ascontiguousarray(Z[-1]), y)
        acc = accuracy(np.ascontiguousarray(Z[-1]), y) if loss_name == "bce" else np.nan
        return loss, acc, Z, H

    for t in range(n_steps + 1):
        if t % ee == 0 or t == n_steps:
            row = ev[t // ee if t < n_steps else -1]
            row[0], row[1], Z, H = evaluate(Xtr, ytr)
            row[4 : 4 + nh], born = dead_fractions(Z, layout)
            row[4 + nh :] = activation_sq_means(H, layout)
            if t == 0:
                init[2 * nl : 2 * nl + nh] = row[4 + nh :]
                init[2 * nl + nh : 2 * nl + 2 * nh] = row[4 : 4 + nh]
                init[-1] = float(born)
            row[2], row[3], _, _ = evaluate(Xte, yte)
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
            log[t // le, 0], log[t // le, 1], log[t // le, 2:] = loss, total, per
        if t == 0:
            init[:nl] = per
            init[nl : 2 * nl] = signal_norms(D, layout)
        if not (np.isfinite(loss) and np.isfinite(total)):
            return 1, t
        if fc[F_CLIP] > 0:
            clip_grad_norm(grad, fc[F_CLIP])
        lr = fc[F_LR]
        if ic[I_SCHED] == 1:
            lr = lr * 0.5 * (1.0 + math.cos(math.pi * t / n_steps))
        opt, wd = int(ic[I_OPT]), float(fc[F_WD])
        if opt == 0:
            sgd_step(P, grad, lr, wd)
        elif opt == 1:
            momentum_step(P, grad, s1, lr, fc[F_MOM], wd, t + 1)
        else:
            adam_step(P, grad, s1, s2, t + 1, lr, fc[F_BETA1], fc[F_BETA2], fc[F_EPS], wd)
    return 0, -1


def train_batch(
    params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte, tel, tel_off,
    status, div_step, threads=None, on_done=None,
):  # fmt: skip
    """Reference of :func:`fastdepth.kernels.train_batch`: a plain loop over networks
    (``on_done`` is called after each one)."""
    from .trainer import D_NIN, D_NTE, D_NTR, D_XTE, D_XTR, D_YTE, D_YTR, I_DATA

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
