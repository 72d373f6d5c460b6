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
    """Dispatch on the optimizer code (0 sgd, 1 momentum, 2 adam); ``t`` counts from 1."""
    if code == 0:
        sgd_step(params, grad, lr, wd)
    elif code == 1:
        momentum_step(params, grad, s1, lr, momentum, wd, t)
    else:
        adam_step(params, grad, s1, s2, t, lr, beta1, beta2, eps, wd)
