"""The batched trainer: many networks, each network's whole training loop compiled.

Compile time is a user-visible cost: every separately compiled function re-optimises
and re-emits the code it links in, so ``train_one`` is inlined at the Numba IR level
(``inline="always"``) into each driver, once, and integer flags are passed as typed
values, not literals (a literal compiles one specialisation per call site). A Numba-level
inline is not free either: Numba deep-copies the callee's IR, with everything inlined
into it, at every call site, so a helper with several call sites (``vmath``'s ``exp``
family, the lane sums) compiles on its own and is left to LLVM's inliner.

``train_batch_flat`` trains a slice of a batch's networks, one after another;
:func:`fastdepth.kernels.train_batch` runs slices on several threads, each a GIL-free
call into this compiled code. Every network is trained by one thread from start to end
with sequential, fixed-order arithmetic, so its numbers do not depend on the thread
count or on its neighbours. Per-network state (activation buffers, gradient, optimizer
moments) is allocated per network: memory is ``threads x`` one network's working set,
plus the telemetry the caller asked for.

Why threads and not ``prange``: a ``parallel=True`` driver made Numba build a gufunc
around the loop body and re-optimise and re-emit the whole linked trainer twice more
(gufunc and wrapper): 7 s of a 23 s cold start, measured with Numba's compile events.
Threads started from Python also let a thread that finishes early take more networks
(``prange`` splits statically), so no cost model has to be exact.

The per-network config arrays are named by the columns of :mod:`columns`; telemetry
goes to ``tel[tel_off[k]:]`` in the layout of :mod:`telemetry`. A code that no
dispatcher has a branch for stops that network with ``STATUS_BAD_CODE`` (the engine
raises), never computes another code's function.
"""

from __future__ import annotations

import math

import numpy as np

from . import _compat
from ._jit import njit
from .buffers import empty_aligned, padded_ld, padded_rows, zeros_aligned
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
from .dense import I0, I1, backward_flat, forward_flat
from .diagnostics import (
    activation_sq_means_flat,
    layer_grad_norms_flat,
    signal_norms_flat,
    unit_fractions_flat,
)
from .hessian import workspace_size
from .lanczos import lanczos_size, top_eigen_flat
from .losses import BCE, accuracy_flat, loss_flat
from .optim import clip_grad_norm, grad_norm, optimizer_step, scheduled_lr
from .settings import (
    LR_SHARPNESS,
    STATUS_BAD_CODE,
    STATUS_DIVERGED,
    STATUS_NO_CURVATURE,
    STATUS_OK,
)
from .shuffle import permutation_flat
from .telemetry import (
    EVAL_DEAD,
    EVAL_TRAIN_LOSS,
    LOG_GRAD_NORM,
    LOG_LAYERS,
    LOG_LOSS,
    block_offsets_c,
    eval_act_sq_c,
    eval_width_c,
    init_offsets_c,
    log_width_c,
    n_eval_points_c,
    n_sharpness_points_c,
    n_snapshot_points_c,
    sharpness_width_c,
)


@njit(inline="always")
def _evaluate(P, table, X, y, n, ld, act, alpha, rblock, loss_code, Z, H, dbuf, work):
    """Forward on a whole split; returns (loss, accuracy, known codes). Leaves Z, H for
    diagnostics."""
    known = forward_flat(P, table, X, Z, H, n, ld, act, alpha, rblock, I1)
    out_row = 0
    for m in range(table.shape[0] - 1):
        out_row += table[m, 1]
    loss, known_loss = loss_flat(loss_code, Z, out_row * ld, y, n, dbuf, 0, work)
    acc = accuracy_flat(Z, out_row * ld, y, n) if loss_code == BCE else np.nan
    return loss, acc, known and known_loss


@njit(inline="always")
def train_one(params, p_off, tables, t_off, icfgs, fcfgs, keys, dinfo, xtrs, ytrs, xtes,
              ytes, tel, tel_off, k, measure, scratch):  # fmt: skip
    """Train network ``k`` of a batch in place; returns (status, divergence step or -1,
    scratch).

    ``scratch`` holds the activation buffers of the networks before this one in the
    thread's slice (cache-line aligned, :func:`.buffers.empty_aligned`); it is reused when
    large enough and replaced by a larger one otherwise, and returned for the next. The
    part a network uses is zeroed first, as fresh buffers were, so results do not depend
    on which networks ran before. Why: at N = 20 000 and width 256 the buffers are 82 MB,
    and allocating them per network made the kernel map and fault in fresh pages every
    time (44% of a perf profile of such a batch).

    ``measure`` is :func:`~.lanczos.top_eigen_flat` in the curvature trainer and
    :func:`_no_curvature` in the plain one (see :func:`train_batch_flat`). The batch's
    arrays come in whole, and the network's slices are cut here, so that each driver's
    loop is one call: a helper holding the loop, inlined into both drivers, made Numba
    deep-copy this function's inlined IR twice (2 s of the first-use compile).
    """
    P = params[p_off[k] : p_off[k + 1]]
    table = tables[t_off[k] : t_off[k + 1]]
    icfg = icfgs[k]
    fcfg = fcfgs[k]
    key = keys[k]
    to = tel_off[k]
    d = icfg[I_DATA]
    n_in = dinfo[d, D_NIN]
    ntr = dinfo[d, D_NTR]
    nte = dinfo[d, D_NTE]
    Xtr = xtrs[dinfo[d, D_XTR] : dinfo[d, D_XTR] + n_in * ntr]
    ytr = ytrs[dinfo[d, D_YTR] : dinfo[d, D_YTR] + ntr]
    Xte = xtes[dinfo[d, D_XTE] : dinfo[d, D_XTE] + n_in * nte]
    yte = ytes[dinfo[d, D_YTE] : dinfo[d, D_YTE] + nte]
    act = icfg[I_ACT]
    loss_code = icfg[I_LOSS]
    opt = icfg[I_OPT]
    rblock = icfg[I_RBLOCK]
    n_steps = icfg[I_STEPS]
    log_every = icfg[I_LOG]
    eval_every = icfg[I_EVAL]
    sched = icfg[I_SCHED]
    lr0 = fcfg[F_LR]
    alpha = fcfg[F_ALPHA]
    clip = fcfg[F_CLIP]
    nl = table.shape[0]
    nh = nl - 1
    n_units = 0
    for k in range(nl):
        n_units += table[k, 1]
    bs = icfg[I_BATCH]
    full = bs >= ntr
    if full:
        bs = ntr
    spe = (ntr + bs - 1) // bs
    dt = P.dtype

    # telemetry blocks (telemetry.py owns the layout)
    n_eval = n_eval_points_c(n_steps, eval_every)
    log_w = log_width_c(nl)
    eval_w = eval_width_c(nl)
    e_act = eval_act_sq_c(nl)
    _, o_eval, o_init, o_snap = block_offsets_c(nl, n_steps, log_every, eval_every)
    o_log = to
    o_eval += to
    o_init += to
    i_gn, i_sig, i_act, i_dead, i_born, _ = init_offsets_c(nl)
    # weight snapshots, after every other block (none when snapshot_every is 0)
    snap_every = icfg[I_SNAP]
    n_snap = n_snapshot_points_c(n_steps, snap_every)
    n_par = P.shape[0]
    o_snap += to
    # sharpness rows after the snapshots (none when sharpness_every is 0, one at step 0
    # when only the rate rule needs lambda_0)
    lr_rule = icfg[I_LR_RULE]
    if lr_rule != 0 and lr_rule != LR_SHARPNESS:
        return STATUS_BAD_CODE, 0, scratch
    sharp_every = icfg[I_SHARP]
    sk = icfg[I_SHARP_K]
    s_iters = icfg[I_SHARP_ITERS]
    n_sharp = n_sharpness_points_c(n_steps, sharp_every, lr_rule == LR_SHARPNESS)
    sharp_w = sharpness_width_c(sk)
    o_sharp = o_snap + n_snap * n_par

    # Rows of every feature-major buffer are padded to whole cache lines (buffers.py);
    # the inputs are copied once into that layout.
    ldb = padded_ld(bs, P)
    ltr = padded_ld(ntr, P)
    lte = padded_ld(nte, P)
    nb_buf = n_units * ldb
    ne_buf = n_units * max(ltr, lte)
    need = 3 * nb_buf + 2 * ne_buf
    if scratch.shape[0] < need:
        scratch = empty_aligned(need, P)
    # every part is whole rows of whole cache lines, so each starts aligned too
    Zb = scratch[0:nb_buf]
    Hb = scratch[nb_buf : 2 * nb_buf]
    Db = scratch[2 * nb_buf : 3 * nb_buf]
    Ze = scratch[3 * nb_buf : 3 * nb_buf + ne_buf]
    He = scratch[3 * nb_buf + ne_buf : need]
    scratch[:need] = 0
    dlog = empty_aligned(max(ntr, nte), P)
    lwork = np.empty(max(ntr, nte), np.float64)  # per-sample loss terms
    Xtr_p = padded_rows(Xtr, n_in, ntr, ltr)
    Xte_p = padded_rows(Xte, n_in, nte, lte)
    grad = np.empty(P.shape[0], dt)
    s1 = np.zeros(P.shape[0], dt)
    s2 = np.zeros(P.shape[0], dt)
    # Hessian workspace on the padded training split and Lanczos scratch: only when measured
    hws = zeros_aligned(workspace_size(table, ltr, n_par) if n_sharp > 0 else 0, P)
    lws = np.zeros(lanczos_size(n_par, s_iters) if n_sharp > 0 else 0)
    # the previous measurement's top Ritz vectors: each measurement after the first starts
    # from them (a function of the run alone, so still the same bits everywhere)
    ritz = np.zeros(n_par if n_sharp > 0 else 0)
    # typed, not a literal: a literal first value made Numba compile top_eigen_flat twice
    # (warm = Literal[int](0), then int64), 8 s of a curvature study's first use
    warm = I0
    if full:
        Xb = Xtr_p
        yb = ytr
        perm = np.empty(0, np.int64)
    else:
        Xb = zeros_aligned(n_in * ldb, P)
        yb = np.empty(bs, dt)
        perm = np.empty(ntr, np.int64)

    out_row = n_units - table[nh, 1]
    status = STATUS_OK
    div_step = -1
    for t in range(n_steps + 1):
        if n_snap > 0 and (t % snap_every == 0 or t == n_steps):
            so = o_snap + (t // snap_every if t < n_steps else n_snap - 1) * n_par
            for i in range(n_par):
                tel[so + i] = P[i]
        if t % eval_every == 0 or t == n_steps:
            e = t // eval_every if t < n_steps else n_eval - 1
            eo = o_eval + e * eval_w
            # One call site for both splits: every call site is another inlined copy.
            for split in range(2):
                Xs, ys, ns, ls = (Xtr_p, ytr, ntr, ltr) if split == 0 else (Xte_p, yte, nte, lte)
                s_loss, s_acc, known = _evaluate(
                    P, table, Xs, ys, ns, ls, act, alpha, rblock, loss_code, Ze, He, dlog, lwork
                )
                if not known:
                    return STATUS_BAD_CODE, t, scratch
                # train_loss, train_acc, then test_loss, test_acc
                tel[eo + EVAL_TRAIN_LOSS + 2 * split] = s_loss
                tel[eo + EVAL_TRAIN_LOSS + 2 * split + 1] = s_acc
                if split == 0:
                    activation_sq_means_flat(He, table, ntr, ltr, tel, eo + e_act)
                    # dead units (ReLU family), saturated units (tanh, sigmoid) or NaN
                    born_dead, known = unit_fractions_flat(Ze, He, table, ntr, ltr, act, tel,
                                                           eo + EVAL_DEAD)  # fmt: skip
                    if not known:
                        return STATUS_BAD_CODE, t, scratch
                    if t == 0:
                        # The init block repeats evaluation row 0: copy it, don't recompute.
                        for k in range(nh):
                            tel[o_init + i_act + k] = tel[eo + e_act + k]
                            tel[o_init + i_dead + k] = tel[eo + EVAL_DEAD + k]
                        tel[o_init + i_born] = born_dead
        if n_sharp > 0 and (
            (sharp_every > 0 and (t % sharp_every == 0 or t == n_steps))
            or (sharp_every == 0 and t == 0)
        ):
            # The whole training set's Hessian, also for minibatch runs; the start vector
            # comes from the run's own key and its previous measurement, so the bits
            # depend on nothing else.
            if sharp_every > 0:
                row = t // sharp_every if t < n_steps else n_sharp - 1
            else:
                row = 0
            so = o_sharp + row * sharp_w
            its, _, err = measure(P, table, Xtr_p, ytr, ntr, ltr, act, alpha, rblock,
                                         loss_code, key, sk, s_iters, fcfg[F_SHARP_TOL], hws,
                                         lwork, lws, tel, so, tel, so + sk, ritz, I0,
                                         warm)  # fmt: skip
            if err != 0:
                return STATUS_BAD_CODE, t, scratch
            warm = I1 if math.isfinite(tel[so]) else I0
            tel[so + 2 * sk] = its
            if t == 0 and lr_rule == LR_SHARPNESS:
                lam0 = tel[so]
                if not (math.isfinite(lam0) and lam0 > 0.0):
                    return STATUS_NO_CURVATURE, -1, scratch
                lr0 = fcfg[F_LR] / lam0
        if t == n_steps:
            break

        # one optimisation step on batch b of epoch ep
        b = t % spe
        if full:
            nb = ntr
        else:
            if b == 0:
                permutation_flat(key, t // spe, ntr, perm)
            start = b * bs
            nb = min(bs, ntr - start)
            for s in range(nb):
                src = perm[start + s]
                yb[s] = ytr[src]
                for q in range(n_in):
                    Xb[q * ldb + s] = Xtr[q * ntr + src]
        known = forward_flat(P, table, Xb, Zb, Hb, nb, ldb, act, alpha, rblock, I0)
        loss, known_loss = loss_flat(loss_code, Zb, out_row * ldb, yb, nb, dlog, 0, lwork)
        # Z as the keep_z = 0 forward left it (float64 gelu: the derivative factor)
        known_back = backward_flat(P, table, Xb, Zb, Hb, dlog, nb, ldb, act, alpha, rblock, grad,
                                   Db, I1)  # fmt: skip
        if not (known and known_loss and known_back):
            return STATUS_BAD_CODE, t, scratch
        if t % log_every == 0:
            # Logged steps get the total norm from the per-layer pass (same sum, same bits).
            lo = o_log + (t // log_every) * log_w
            tel[lo + LOG_LOSS] = loss
            gnorm = layer_grad_norms_flat(grad, table, tel, lo + LOG_LAYERS)
            tel[lo + LOG_GRAD_NORM] = gnorm
            if t == 0:
                for k in range(nl):
                    tel[o_init + i_gn + k] = tel[lo + LOG_LAYERS + k]
                signal_norms_flat(Db, table, nb, ldb, tel, o_init + i_sig)
        else:
            gnorm = grad_norm(grad)
        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            status = STATUS_DIVERGED
            div_step = t
            break
        if clip > 0:
            clip_grad_norm(grad, clip)
        lr, known = scheduled_lr(sched, lr0, t, n_steps)
        if not known:
            return STATUS_BAD_CODE, t, scratch
        known = optimizer_step(
            opt,
            P,
            grad,
            s1,
            s2,
            t + 1,
            lr,
            fcfg[F_MOM],
            fcfg[F_BETA1],
            fcfg[F_BETA2],
            fcfg[F_EPS],
            fcfg[F_WD],
        )
        if not known:
            return STATUS_BAD_CODE, t, scratch
    return status, div_step, scratch


ERR_NO_CURVATURE = 3  # the plain trainer was handed a network that measures curvature


@njit(inline="always")
def _no_curvature(P, table, X, y, n, ld, act, alpha, rblock, loss_code, key, k, max_iter, tol,
                  ws, work, lws, vals, vo, res, ro, ritz, xo, warm):  # fmt: skip
    """Stands in for :func:`~.lanczos.top_eigen_flat` in the plain trainer: an error, so a
    network that needs the sharpness ends with ``STATUS_BAD_CODE`` there (the engine
    raises), never with made-up numbers."""
    return 0, 0, ERR_NO_CURVATURE


@njit
def train_batch_flat(
    params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte, tel, tel_off,
    status, div_step, order, lo, hi,
):  # fmt: skip
    """Train the networks ``order[lo:hi]`` of a batch, one after another, in this thread.

    :func:`fastdepth.kernels.train_batch` calls it from several threads at once with
    disjoint slices (the function holds no GIL); different networks touch disjoint parts
    of ``params``, ``tel``, ``status`` and ``div_step``.

    This is the plain trainer: it does not link the Hessian-vector product and Lanczos
    code, which more than doubled the first-use compile (18 s to 41 s of CPU time,
    measured with an empty cache). Batches in which some network measures the sharpness
    (``sharpness_every > 0`` or ``lr_rule = 'sharpness'``) go to
    :func:`train_batch_flat_curvature`, the same loop with the measurement linked in,
    compiled the first time such a batch runs. Both run every network through the same
    ``train_one``, so a network that measures nothing gets the same bits from either.
    """
    scratch = empty_aligned(0, params)
    for i in range(lo, hi):
        k = order[i]
        status[k], div_step[k], scratch = train_one(
            params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte, tel,
            tel_off, k, _no_curvature, scratch
        )  # fmt: skip


@njit
def train_batch_flat_curvature(
    params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte, tel, tel_off,
    status, div_step, order, lo, hi,
):  # fmt: skip
    """:func:`train_batch_flat` with the sharpness measurement
    (:func:`~.lanczos.top_eigen_flat`) linked in."""
    scratch = empty_aligned(0, params)
    for i in range(lo, hi):
        k = order[i]
        status[k], div_step[k], scratch = train_one(
            params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte, tel,
            tel_off, k, top_eigen_flat, scratch
        )  # fmt: skip


# The drivers' own code is optimised before the kernels are linked in (each kernel is
# optimised in its own library already): 3 s less of the first-use compile, same code
# where it runs. See _compat.optimise_before_linking.
_compat.optimise_before_linking(__name__, ("train_batch_flat", "train_batch_flat_curvature"))


def needs_curvature(icfg: np.ndarray) -> bool:
    """Whether some network of a batch (its ``icfg`` rows) measures the sharpness."""
    return bool(np.any(icfg[:, I_SHARP] > 0) or np.any(icfg[:, I_LR_RULE] == LR_SHARPNESS))
