"""Public compiled kernels: validate in Python, then run the Numba core.

Every function here has a twin of the same name and signature in
:mod:`fastdepth.kernels.reference` (plain NumPy), which is the spec.

Arrays are feature-major: ``X`` is ``(n_in, n_samples)`` and the activation
buffers ``Z`` (pre-activations), ``H`` (activations) and ``D`` (dL/dz) are
``(layout.n_units, n_samples)``: the rows of hidden layer 0, then hidden layer 1,
..., then the output units. The dtype of ``params`` (float32 or float64) decides
the dtype of everything else.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _validate as v
from .activations import apply_activation, scale_by_derivative
from .dense import backward_flat, forward_flat
from .diagnostics import (
    activation_sq_means_flat,
    dead_fractions_flat,
    layer_grad_norms_flat,
    saturated_fractions_flat,
    signal_norms_flat,
)
from .layout import Layout
from .losses import accuracy_flat, bce_flat, mse_flat
from .optim import adam_step as _adam
from .optim import clip_grad_norm as _clip
from .optim import momentum_step as _momentum
from .optim import sgd_step as _sgd
from .schedule import GuidedChunks, batch_costs
from .shuffle import permutation_flat
from .trainer import needs_curvature, train_batch_flat, train_batch_flat_curvature


def _table(layout: Layout) -> np.ndarray:
    """``layout.table`` as the trainer passes tables (:func:`._validate.writable`)."""
    return v.writable(layout.table)


def _check_known(known: bool, kernel: str, name: str) -> None:
    """A validated name whose code has no compiled branch is a bug in the core: say so."""
    if not known:
        raise RuntimeError(f"{kernel}: the compiled core has no branch for {name!r} (a bug)")


def forward(
    params: np.ndarray,
    layout: Layout,
    X: np.ndarray,
    activation: str = "relu",
    *,
    alpha: float | None = None,
    residual: int = 0,
    Z: np.ndarray | None = None,
    H: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass of one network over a block of samples.

    Parameters
    ----------
    params : ndarray, shape (layout.n_params,), float32 or float64
    layout : Layout
    X : ndarray, shape (layout.n_in, n), same dtype
        Inputs, feature-major (one row per input feature).
    activation : str
        Hidden activation, one of ``settings.ACTIVATIONS``. The output layer is linear.
    alpha : float, optional
        leaky_relu slope / elu scale (defaults in ``settings.DEFAULT_ALPHA``).
    residual : int
        0 for a plain network, or the number of hidden layers per residual block
        (see :mod:`fastdepth.kernels.dense`; 2 is ``relu(x + W2 relu(W1 x))``).
    Z, H : ndarray, shape (layout.n_units, n), optional
        Preallocated outputs: pre-activations and activations (logits in the last rows).

    Returns
    -------
    Z, H : ndarray, shape (layout.n_units, n)
    """
    n, code, a, r, Z, H = v.check_forward(params, layout, X, activation, alpha, residual, Z, H)
    P, X = v.writable(params), v.writable(X)
    known = forward_flat(P, _table(layout), X.reshape(-1), Z.reshape(-1), H.reshape(-1), n, n,
                         code, a, r, 1)  # fmt: skip
    _check_known(known, "forward", activation)
    return Z, H


def backward(
    params: np.ndarray,
    layout: Layout,
    X: np.ndarray,
    Z: np.ndarray,
    H: np.ndarray,
    dout: np.ndarray,
    activation: str = "relu",
    *,
    alpha: float | None = None,
    residual: int = 0,
    grad: np.ndarray | None = None,
    D: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Backward pass: gradients of every ``W`` and ``b`` given dL/d(output).

    Parameters
    ----------
    params, layout, X, activation, alpha, residual
        As in :func:`forward`.
    Z, H : ndarray, shape (layout.n_units, n)
        The buffers :func:`forward` filled for the same inputs.
    dout : ndarray, shape (layout.n_out, n)
        Gradient of the loss with respect to the outputs (e.g. from :func:`bce_with_logits`).
    grad : ndarray, shape (layout.n_params,), optional
        Output: the packed gradient.
    D : ndarray, shape (layout.n_units, n), optional
        Output: dL/dz of every unit, the back-propagated signal.

    Returns
    -------
    grad : ndarray, shape (layout.n_params,)
    D : ndarray, shape (layout.n_units, n)
    """
    n, code, a, r, grad, D = v.check_backward(
        params, layout, X, Z, H, dout, activation, alpha, residual, grad, D
    )
    P, X, dout = v.writable(params), v.writable(X), v.writable(dout)
    known = backward_flat(
        P, _table(layout), X.reshape(-1), Z.reshape(-1), H.reshape(-1), dout.reshape(-1),
        n, n, code, a, r, grad, D.reshape(-1), 0,
    )  # fmt: skip
    _check_known(known, "backward", activation)
    return grad, D


def activation(
    z: np.ndarray, name: str, alpha: float | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Elementwise activation ``act(z)``; ``z`` any C-contiguous float array."""
    code, a = v.activation_code(name, alpha)
    v.float_array("z", z, z.ndim if isinstance(z, np.ndarray) else 1)
    out = v.buffer("out", out, z.shape, z.dtype)
    known = apply_activation(z.reshape(-1), 0, out.reshape(-1), 0, z.size, code, a)
    _check_known(known, "activation", name)
    return out


def activation_grad(
    z: np.ndarray, name: str, alpha: float | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Elementwise derivative ``act'(z)`` at the pre-activation ``z`` (ReLU: the mask ``z > 0``)."""
    code, a = v.activation_code(name, alpha)
    v.float_array("z", z, z.ndim if isinstance(z, np.ndarray) else 1)
    out = v.buffer("out", out, z.shape, z.dtype)
    out[...] = 1
    known = scale_by_derivative(z.reshape(-1), 0, out.reshape(-1), 0, z.size, code, a)
    _check_known(known, "activation_grad", name)
    return out


def bce_with_logits(
    logits: np.ndarray, y: np.ndarray, dlogits: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy with logits (stable log-sum-exp form) and its gradient.

    Parameters
    ----------
    logits : ndarray, shape (n,)
    y : ndarray, shape (n,), values in {0, 1} (soft targets in [0, 1] work too)
    dlogits : ndarray, shape (n,), optional output

    Returns
    -------
    loss : float
    dlogits : ndarray, shape (n,)
        ``(sigmoid(logits) - y) / n``.
    """
    d = v.check_loss("dlogits", logits, y, dlogits)
    n = logits.shape[0]
    return float(bce_flat(logits, 0, y, n, d, 0, np.empty(n))), d


def mse(
    pred: np.ndarray, y: np.ndarray, dpred: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Mean squared error ``mean((pred - y)^2)`` and its gradient ``2 (pred - y) / n``."""
    d = v.check_loss("dpred", pred, y, dpred)
    n = pred.shape[0]
    return float(mse_flat(pred, 0, y, n, d, 0, np.empty(n))), d


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Share of samples where ``logits > 0`` agrees with ``y > 0.5``."""
    v.check_loss("dlogits", logits, y, None)
    return float(accuracy_flat(logits, 0, y, logits.shape[0]))


def sgd_step(params: np.ndarray, grad: np.ndarray, lr: float, weight_decay: float = 0.0) -> None:
    """In place: ``params -= lr * (grad + weight_decay * params)`` (torch.optim.SGD)."""
    v.check_optimizer(params, grad)
    _sgd(params, grad, v.positive("lr", lr), v.positive("weight_decay", weight_decay, True))


def momentum_step(
    params: np.ndarray,
    grad: np.ndarray,
    buf: np.ndarray,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    t: int = 1,
) -> None:
    """In place heavy-ball SGD as torch.optim.SGD(momentum=...): ``buf = g`` at ``t == 1``."""
    v.check_optimizer(params, grad, buf)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if int(t) < 1:
        raise ValueError(f"t counts steps from 1, got {t}")
    _momentum(params, grad, buf, v.positive("lr", lr), float(momentum),
              v.positive("weight_decay", weight_decay, True), int(t))  # fmt: skip


def adam_step(
    params: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v_: np.ndarray,
    t: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    """In place Adam step ``t >= 1`` with bias correction, as torch.optim.Adam."""
    v.check_optimizer(params, grad, m, v_)
    for name, b in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= b < 1:
            raise ValueError(f"{name} must be in [0, 1), got {b}")
    if int(t) < 1:
        raise ValueError(f"t counts steps from 1, got {t}")
    _adam(params, grad, m, v_, int(t), v.positive("lr", lr), float(beta1), float(beta2),
          v.positive("eps", eps), v.positive("weight_decay", weight_decay, True))  # fmt: skip


def clip_grad_norm(grad: np.ndarray, max_norm: float) -> float:
    """In place: rescale ``grad`` to norm ``<= max_norm``; returns the norm before clipping."""
    v.float_array("grad", grad, 1)
    return float(_clip(grad, v.positive("max_norm", max_norm)))


def layer_grad_norms(grad: np.ndarray, layout: Layout) -> tuple[np.ndarray, float]:
    """Frobenius norm of each layer's weight gradient (float64, (n_layers,)) and the total norm."""
    layout = v.layout_arg(layout)
    v.float_array("grad", grad, 1, shape=(layout.n_params,))
    out = np.empty(layout.n_layers)
    total = layer_grad_norms_flat(grad, _table(layout), out, 0)
    return out, float(total)


def signal_norms(D: np.ndarray, layout: Layout) -> np.ndarray:
    """Frobenius norm of dL/dz per layer (float64, (n_layers,)), over units and samples."""
    layout = v.check_units("D", D, layout)
    out = np.empty(layout.n_layers)
    signal_norms_flat(D.reshape(-1), _table(layout), D.shape[1], D.shape[1], out, 0)
    return out


def activation_sq_means(H: np.ndarray, layout: Layout) -> np.ndarray:
    """Mean squared activation of each hidden layer (float64, (depth,))."""
    layout = v.check_units("H", H, layout)
    out = np.empty(layout.depth)
    activation_sq_means_flat(H.reshape(-1), _table(layout), H.shape[1], H.shape[1], out, 0)
    return out


def dead_fractions(Z: np.ndarray, layout: Layout) -> tuple[np.ndarray, bool]:
    """Share of dead units per hidden layer (float64, (depth,)) and whether a layer is all dead.

    A unit is dead when its pre-activation is ``<= 0`` for every sample given.
    """
    layout = v.check_units("Z", Z, layout)
    out = np.empty(layout.depth)
    born = dead_fractions_flat(Z.reshape(-1), _table(layout), Z.shape[1], Z.shape[1], out, 0)
    return out, bool(born)


def saturated_fractions(
    H: np.ndarray, layout: Layout, activation: str = "tanh"
) -> tuple[np.ndarray, bool]:
    """Share of saturated units per hidden layer (float64, (depth,)) and whether a layer
    is all saturated.

    For a saturating activation (``tanh``, ``sigmoid``: ``vocab.Activation.units ==
    "saturated"``) with range ``(c - r, c + r)``, a unit is saturated when ``|h - c| >
    0.99 r`` (:data:`~fastdepth.kernels.vocab.SATURATION`) for every sample given:
    ``|h| > 0.99`` for tanh, ``|2 h - 1| > 0.99`` for sigmoid. Its derivative is then
    below 1.99% of its maximum on every sample. ``H`` holds the activations, as
    :func:`forward` returns them. Any other activation raises ``ValueError``.
    """
    centre, half = v.saturating_range(activation)
    layout = v.check_units("H", H, layout)
    out = np.empty(layout.depth)
    full = saturated_fractions_flat(H.reshape(-1), _table(layout), H.shape[1], H.shape[1],
                                    centre, half, out, 0)  # fmt: skip
    return out, bool(full)


def permutation(key: int, epoch: int, n: int) -> np.ndarray:
    """The mini-batch order of epoch ``epoch`` for shuffle key ``key``: int64, shape (n,)."""
    if not 0 <= int(key) < 2**64:
        raise ValueError(f"key must be in [0, 2**64), got {key}")
    if int(epoch) < 0 or int(n) < 1:
        raise ValueError(f"need epoch >= 0 and n >= 1, got epoch={epoch}, n={n}")
    out = np.empty(int(n), dtype=np.int64)
    permutation_flat(np.uint64(key), int(epoch), int(n), out)
    return out


def train_batch(
    params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte, tel, tel_off,
    status, div_step, threads: int | None = None, on_done=None,
) -> None:  # fmt: skip
    """Train a batch of networks in place, in parallel over networks.

    The packed inputs are built by :func:`fastdepth.engine.pack_batch`; the column
    meanings are in :mod:`fastdepth.kernels.trainer`. ``params`` (float32/float64,
    all networks concatenated at ``p_off``) is updated in place to the final
    parameters; ``tel`` (float64) receives telemetry at ``tel_off`` in the order of
    :func:`~fastdepth.kernels.telemetry.telemetry_layout` (NaN where nothing was
    recorded); ``status`` / ``div_step`` (int64, per network) the outcome.

    ``threads`` (default: ``numba.get_num_threads()``, at most ``NUMBA_NUM_THREADS``) is
    the number of threads for this call. The networks are sorted by estimated cost,
    longest first, and the threads take them in that order in shrinking chunks
    (:class:`GuidedChunks`), each chunk one GIL-free compiled call: a thread that
    finishes early takes more, so a batch that mixes depths keeps every thread busy to
    the end without a precise cost model. No result depends on which thread ran what,
    because each network runs start to end on one thread.

    ``on_done(indices)``, if given, is called with the indices (int64 array) of the
    networks each chunk just trained, in the thread that trained them, before that
    thread takes more work: Python work there (turning telemetry into tables) overlaps
    the training in the other threads instead of waiting for the whole batch.
    """
    import numba

    v.check_batch(params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte,
                  tel, tel_off, status, div_step)  # fmt: skip
    if threads is None:
        n_threads = numba.get_num_threads()
    elif int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    else:
        n_threads = min(int(threads), numba.config.NUMBA_NUM_THREADS)
    costs = batch_costs(p_off, tables, t_off, icfg, dinfo)
    order = np.argsort(-costs, kind="stable").astype(np.int64)
    n_threads = max(1, min(n_threads, order.shape[0]))
    # The curvature trainer is compiled only for a batch that measures the sharpness.
    train = train_batch_flat_curvature if needs_curvature(icfg) else train_batch_flat
    args = (params, p_off, tables, t_off, icfg, fcfg, keys, dinfo, xtr, ytr, xte, yte, tel,
            tel_off, status, div_step, order)  # fmt: skip
    if not train.overloads:
        # First call in this process: on an empty disk cache, compile the kernels the
        # trainer calls on several cores first (a warm start only reads a cache index),
        # then the trainer, with the types a call would give it, both without the
        # collector. Imported here: ``python -m fastdepth.kernels.precompile`` runs it
        # as __main__.
        from . import precompile

        precompile.compile_in_parallel(params.dtype.name, train is train_batch_flat_curvature)
        with precompile.paused_gc():
            train.compile(tuple(numba.typeof(a) for a in (*args, 0, 0)))
    if n_threads == 1:
        train(*args, 0, order.shape[0])
        if on_done is not None:
            on_done(order)
        return
    chunks = GuidedChunks(order.shape[0], n_threads)

    def work() -> None:
        for lo, hi in chunks:
            train(*args, lo, hi)
            if on_done is not None:
                on_done(order[lo:hi])

    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="fastdepth") as pool:
        futures = [pool.submit(work) for _ in range(n_threads)]
        for f in futures:
            f.result()  # re-raises a thread's exception here
