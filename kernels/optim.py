"""Optimizer steps on a packed parameter vector, with PyTorch's conventions.

Weight decay is the L2 form added to the gradient (``torch.optim.SGD`` / ``Adam``,
not ``AdamW``). Momentum has no dampening and its buffer starts as the first
gradient (``t == 1``). Adam uses bias correction with ``t`` counted from 1 and
PyTorch's arithmetic: ``p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)``.
"""

from __future__ import annotations

import math

from ._jit import njit
from .vmath import lane_sumsq8
from .vocab import OPTIMIZERS, SCHEDULES

SGD = OPTIMIZERS["sgd"]
MOMENTUM = OPTIMIZERS["momentum"]
ADAM = OPTIMIZERS["adam"]
CONSTANT = SCHEDULES["constant"]
COSINE = SCHEDULES["cosine"]


@njit
def sgd_step(params, grad, lr, weight_decay):
    """``p -= lr * (g + wd p)`` in place."""
    for i in range(params.shape[0]):
        g = grad[i] + weight_decay * params[i]
        params[i] = params[i] - lr * g


@njit
def momentum_step(params, grad, buf, lr, momentum, weight_decay, t):
    """Heavy-ball SGD: ``b = mu b + g`` (``b = g`` at ``t == 1``); ``p -= lr b``."""
    for i in range(params.shape[0]):
        g = grad[i] + weight_decay * params[i]
        b = g if t == 1 else momentum * buf[i] + g
        buf[i] = b
        params[i] = params[i] - lr * b


@njit
def adam_step(params, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """Adam with bias correction, step ``t >= 1``."""
    bc1 = 1.0 - beta1**t
    bc2 = 1.0 - beta2**t
    step = lr / bc1
    sq_bc2 = math.sqrt(bc2)
    for i in range(params.shape[0]):
        g = grad[i] + weight_decay * params[i]
        mi = beta1 * m[i] + (1.0 - beta1) * g
        vi = beta2 * v[i] + (1.0 - beta2) * g * g
        m[i] = mi
        v[i] = vi
        params[i] = params[i] - step * (mi / (math.sqrt(vi) / sq_bc2 + eps))


@njit
def grad_norm(grad):
    """Euclidean norm of the whole gradient vector, accumulated in float64.

    The trainer's logged steps get it from :func:`diagnostics.layer_grad_norms_flat`,
    which calls this, so logged and unlogged steps see the same bits.
    """
    return math.sqrt(lane_sumsq8(grad, 0, grad.shape[0]))


@njit
def clip_grad_norm(grad, max_norm):
    """Scale ``grad`` to norm ``<= max_norm`` (``clip_grad_norm_``); return the norm before."""
    total = grad_norm(grad)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for i in range(grad.shape[0]):
            grad[i] = grad[i] * coef
    return total


@njit
def optimizer_step(code, params, grad, s1, s2, t, lr, momentum, beta1, beta2, eps, wd):
    """Dispatch on the optimizer code (:data:`vocab.OPTIMIZERS`); ``t`` counts from 1.

    Returns True, or False (parameters untouched) for a code with no branch here.
    """
    if code == SGD:
        sgd_step(params, grad, lr, wd)
    elif code == MOMENTUM:
        momentum_step(params, grad, s1, lr, momentum, wd, t)
    elif code == ADAM:
        adam_step(params, grad, s1, s2, t, lr, beta1, beta2, eps, wd)
    else:
        return False
    return True


@njit(inline="always")
def scheduled_lr(code, lr0, t, n_steps):
    """The rate of step ``t`` (from 0) under schedule ``code`` (:data:`vocab.SCHEDULES`).

    Returns ``(lr, known)``; ``known`` is False (lr NaN) for a code with no branch here.
    """
    if code == CONSTANT:
        return lr0, True
    elif code == COSINE:
        return lr0 * 0.5 * (1.0 + math.cos(math.pi * t / n_steps)), True
    return math.nan, False
