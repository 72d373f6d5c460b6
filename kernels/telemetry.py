"""Where each telemetry series of a network sits in the flat telemetry vector.

Memory per network, in float64 values: ``n_log (2 + L + 1) + n_eval (4 + 2 L) + 4 L + 3``
for L hidden layers (``telemetry_size`` below), with
``n_log = (steps - 1) // log_every + 1`` and ``n_eval = (steps - 1) // eval_every + 2``.
It depends on the cadences, never on how the steps are computed.
"""

from __future__ import annotations

LOG_COLUMNS = ("loss", "grad_norm")  # then grad_norm_<k> for every layer
EVAL_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc")  # then dead_<k>, act_sq_<k>


def n_log_points(n_steps: int, log_every: int) -> int:
    """Number of logged steps: ``0, log_every, ... < n_steps``."""
    return (n_steps - 1) // log_every + 1


def n_eval_points(n_steps: int, eval_every: int) -> int:
    """Number of evaluations: ``0, eval_every, ... < n_steps`` and ``n_steps``."""
    return (n_steps - 1) // eval_every + 2


def telemetry_layout(n_layers: int, n_steps: int, log_every: int, eval_every: int) -> dict:
    """Offsets and shapes of one network's telemetry blocks.

    Returns
    -------
    dict
        ``{"log": (offset, (n_log, 2 + n_layers)), "eval": (offset, (n_eval, 4 + 2 h)),
        "init": (offset, (2 n_layers + 2 h + 1,)), "size": total}``. Log rows are
        ``loss, grad_norm, grad_norm_<k>...``; eval rows ``train_loss, train_acc,
        test_loss, test_acc, dead_<k>..., act_sq_<k>...``; the init block is
        ``grad_norm[n_layers], signal_norm[n_layers], act_sq[h], dead[h], born_dead``
        and ``h = n_layers - 1``.
    """
    nh = n_layers - 1
    n_log = n_log_points(n_steps, log_every)
    n_eval = n_eval_points(n_steps, eval_every)
    log_shape = (n_log, 2 + n_layers)
    eval_shape = (n_eval, 4 + 2 * nh)
    init_len = 2 * n_layers + 2 * nh + 1
    o_eval = n_log * log_shape[1]
    o_init = o_eval + n_eval * eval_shape[1]
    return {
        "log": (0, log_shape),
        "eval": (o_eval, eval_shape),
        "init": (o_init, (init_len,)),
        "size": o_init + init_len,
    }


def telemetry_size(n_layers: int, n_steps: int, log_every: int, eval_every: int) -> int:
    """Floats of telemetry one network needs (see :func:`telemetry_layout`)."""
    return telemetry_layout(n_layers, n_steps, log_every, eval_every)["size"]
