"""Summary metrics of one run, computed from its telemetry (no training here).

Definitions: grad-norm statistics over the logged total gradient
norm; ``up_fraction`` = share of logged steps where the loss rose; ``tv_ratio`` =
total variation of the loss curve / |final - initial| (1 for a monotone curve);
unit states on the whole training set, by the activation's measure
(:attr:`fastdepth.kernels.vocab.Activation.units`): *dead* units for the ReLU family
(pre-activation <= 0 on every training input; ``dead_*`` and ``born_dead``), *saturated*
units for tanh and sigmoid (``|h - c| > 0.99 r`` on every training input for the range
``(c - r, c + r)``: ``|h| > 0.99`` for tanh; ``saturated_*`` and ``born_saturated``). The
keys of the other measure are NaN (lists and flags None), and both are for activations
with neither (identity, elu, gelu, silu).

A run has **collapsed** when it finished with a finite loss but its network gives (almost)
the same output for every training input: the standard deviation of its outputs over the
training set is at most :data:`COLLAPSE_TOL` times ``max(1, std(targets))``, i.e. 1e-4
log-odds for BCE, where no predicted probability differs from another by more than 2.5e-5.
That is the usual failure just above the stable learning-rate range of deep ReLU nets: a
large step kills a whole layer (the outputs become exactly equal) or all but a unit or two
that fire on a handful of inputs (a spread of ~1e-6), and the loss settles at that of a
constant predictor (ln 2 for BCE on balanced classes). Healthy trained nets have an output
spread of order 1 or more, so the bound sits far from both. It is judged from the outputs,
not the dead fractions, so it holds for any activation and is not fooled by a dead layer
that a residual skip bypasses. ``final_output_std`` is recorded beside it.

**Sharpness** (runs with ``sharpness_every > 0``): ``lambda``, the top eigenvalue of the
Hessian of the mean loss on the whole training set, measured every ``sharpness_every``
steps and after the last (``docs/curvature.md``). ``sharpness_init`` is ``lambda_0`` (also
recorded for ``lr_rule = 'sharpness'`` alone), ``sharpness_final`` the value after the
last step (NaN for a run that did not finish), ``sharpness_max`` the largest finite one,
and ``eos_fraction`` the share of the finite measurements at the *edge of stability*:
``lambda >= 0.95 * 2 / eta_t`` (``1.9 / eta_t``), with ``eta_t`` the rate of that step
(the schedule applied to the effective rate); for heavy-ball momentum ``beta`` the limit
is ``(2 + 2 beta) / eta_t``. Undefined (NaN) for Adam, whose stability limit is that of
its preconditioned Hessian. ``lr_effective`` is the rate the run used: ``lr``, or
``lr / lambda_0`` for ``lr_rule = 'sharpness'`` (NaN when ``lambda_0`` was not positive).
"""

from __future__ import annotations

import math

import numpy as np

from .kernels import exact_sum
from .kernels import telemetry as tm

#: Share of the stability limit from which a sharpness measurement counts as at the edge
#: of stability (``lambda >= 1.9 / lr`` for gradient descent).
EOS_SHARE = 0.95
SHARPNESS_KEYS = ("sharpness_init", "sharpness_final", "sharpness_max", "eos_fraction",
                  "lr_effective")  # fmt: skip

#: Output spread (std over the training inputs, relative to ``max(1, std(targets))``) at or
#: below which a finished run counts as collapsed. See the module docstring.
COLLAPSE_TOL = 1e-4


def exact_mean(x) -> float:
    """Correctly rounded mean (``math.fsum``'s sum) of a float array; NaN when empty.

    The sum is exact, so the result cannot depend on summation order, blocking or
    memory layout: a guarantee NumPy's pairwise/SIMD reductions do not document.
    Summaries must be bit-reproducible, so they sum exactly, with
    :func:`fastdepth.kernels.exact_sum` (``math.fsum``'s bits, compiled).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    return exact_sum(x) / x.size if x.size else math.nan


def exact_std(x, ddof: int = 0, mean: float | None = None) -> float:
    """Standard deviation from :func:`exact_mean` and an exact sum of squared deviations.

    ``mean`` is ``exact_mean(x)`` when the caller has it already (it saves one exact sum).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size - ddof <= 0:
        return math.nan
    m = exact_mean(x) if mean is None else mean
    return math.sqrt(exact_sum((x - m) ** 2) / (x.size - ddof))


def cv_stats(x: np.ndarray) -> tuple[float, float, float]:
    """Mean, std (population) and coefficient of variation (std / mean) of finite values."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = exact_mean(x)
    s = exact_std(x, mean=m)
    return m, s, (s / m if m != 0 else math.nan)


def oscillation(loss: np.ndarray) -> tuple[float, float]:
    """``(up_fraction, tv_ratio)`` of a loss curve; NaN where undefined.

    Parameters
    ----------
    loss : ndarray, shape (n_logged,), float64
        The logged training loss; non-finite tail values (divergence) are dropped.
    """
    loss = np.asarray(loss, dtype=np.float64)
    loss = loss[np.isfinite(loss)]
    if loss.size < 2:
        return math.nan, math.nan
    d = np.diff(loss)
    up = float(np.mean(d > 0))
    net = abs(loss[-1] - loss[0])
    tv = exact_sum(np.abs(d)) / net if net > 0 else math.nan
    return up, tv


def _unit_keys(prefix: str, init_fr: np.ndarray | None, end_fr: np.ndarray | None,
               full: float | None, nh: int) -> dict:  # fmt: skip
    """``<prefix>_frac_init`` & co. of one unit measure; NaN / None when it does not apply."""
    if init_fr is None:
        return {f"{prefix}_frac_init": math.nan, f"{prefix}_frac_init_max": math.nan,
                f"{prefix}_frac_end": math.nan, f"layer_{prefix}_init": None,
                f"layer_{prefix}_end": None, f"born_{prefix}": None}  # fmt: skip
    return {
        f"{prefix}_frac_init": exact_mean(init_fr) if nh else 0.0,
        f"{prefix}_frac_init_max": float(np.max(init_fr)) if nh else 0.0,
        f"{prefix}_frac_end": exact_mean(end_fr) if nh else 0.0,
        f"layer_{prefix}_init": [float(x) for x in init_fr],
        f"layer_{prefix}_end": [float(x) for x in end_fr],
        f"born_{prefix}": bool(full > 0.5),
    }


#: Optimizers with a plain stability limit ``(2 + 2 beta) / eta`` (beta = 0 for sgd).
GD_OPTIMIZERS = ("sgd", "momentum")


def stability_limit(rate, optimizer, momentum) -> np.ndarray:
    """``(2 + 2 beta) / rate``: the sharpness above which gradient descent at ``rate`` is
    unstable (``beta`` = ``momentum`` for the momentum optimizer, 0 for sgd); NaN for
    other optimizers. Elementwise over arrays (a runs table's columns) or scalars; a rate
    of 0 (a cosine schedule's last step) has no limit (inf)."""
    opt = np.asarray(optimizer)
    beta = np.where(opt == "momentum", momentum, 0.0)
    with np.errstate(divide="ignore"):
        lim = (2.0 + 2.0 * beta) / np.asarray(rate, dtype=np.float64)
    return np.where(np.isin(opt, GD_OPTIMIZERS), lim, np.nan)


def sharpness_summary(steps: np.ndarray, block: np.ndarray, lr: float, lr_rule: str = "fixed",
                      optimizer: str = "sgd", momentum: float = 0.0,
                      schedule: str = "constant", n_steps: int = 1,
                      every: int = 0) -> dict:  # fmt: skip
    """The sharpness keys of a run's summary (see the module docstring).

    Parameters
    ----------
    steps : ndarray, shape (n,), int64
        The step of every row of ``block`` (``TelemetryLayout.sharpness_steps``).
    block : ndarray, shape (n, 2 k + 1), float64
        The run's sharpness block; column 0 the top eigenvalue (NaN rows not reached).
    lr, lr_rule, optimizer, momentum, schedule, n_steps : the run's settings.
    every : int
        ``sharpness_every``: 0 gives only ``sharpness_init`` and ``lr_effective``.

    Returns
    -------
    dict
        :data:`SHARPNESS_KEYS`, plain floats.
    """
    lam = np.asarray(block, dtype=np.float64)[:, 0] if len(block) else np.empty(0)
    lam0 = float(lam[0]) if lam.size else math.nan
    eff = float(lr)
    if lr_rule == "sharpness":
        eff = lr / lam0 if math.isfinite(lam0) and lam0 > 0 else math.nan
    out = dict.fromkeys(SHARPNESS_KEYS, math.nan)
    out.update(sharpness_init=lam0, lr_effective=eff)
    if every <= 0 or lam.size == 0:
        return out
    out["sharpness_final"] = float(lam[-1])
    ok = np.isfinite(lam)
    out["sharpness_max"] = float(np.max(lam[ok])) if ok.any() else math.nan
    if optimizer in GD_OPTIMIZERS and ok.any():
        t = np.asarray(steps, dtype=np.float64)[ok]
        rate = np.full(t.shape, eff)
        if schedule == "cosine":
            rate = eff * 0.5 * (1.0 + np.cos(math.pi * t / n_steps))
        limit = stability_limit(rate, optimizer, momentum)
        out["eos_fraction"] = float(np.mean(lam[ok] >= EOS_SHARE * limit))
    return out


def summarize(log: np.ndarray, ev: np.ndarray, init: np.ndarray, n_layers: int, status: str,
              div_step: int, output: np.ndarray | None = None,
              target: np.ndarray | None = None, units: str = "dead",
              sharpness: dict | None = None) -> dict:  # fmt: skip
    """Scalar summary of one run from its telemetry blocks.

    Parameters
    ----------
    log, ev, init : ndarray
        The run's three telemetry blocks, as :meth:`TelemetryLayout.split
        <fastdepth.kernels.telemetry.TelemetryLayout.split>` gives them: ``log``
        ``(n_log, 2 + n_layers)``, ``ev`` ``(n_eval, 4 + 2 (n_layers - 1))``, ``init``
        ``(4 n_layers - 1,)``; columns as :mod:`fastdepth.kernels.telemetry` names them.
    status : str
        ``'ok'`` or ``'diverged'``.
    div_step : int
        Step of divergence, -1 if none.
    output : ndarray, shape (n_train,), optional
        The trained network's outputs (logits) on the training inputs. Without it,
        ``final_output_std`` is NaN and ``collapsed`` False.
    target : ndarray, shape (n_train,), optional
        The training targets: their std sets the scale of the collapse bound (default 1).
    units : {'dead', 'saturated', 'none'}
        What the telemetry's unit-state slots hold: the activation's
        :attr:`~fastdepth.kernels.vocab.Activation.units`.
    sharpness : dict, optional
        :func:`sharpness_summary` of the run; without it its keys are NaN.

    Returns
    -------
    dict
        Plain floats / ints / lists, ready for a table row.
    """
    nh = n_layers - 1
    loss = log[:, tm.LOG_LOSS]
    gn_mean, gn_std, gn_cv = cv_stats(log[:, tm.LOG_GRAD_NORM])
    per_layer = [cv_stats(log[:, tm.LOG_LAYERS + k]) for k in range(n_layers)]
    up, tv = oscillation(loss)
    done = np.isfinite(ev[:, tm.EVAL_TRAIN_LOSS])
    last = ev[np.flatnonzero(done)[-1]] if done.any() else np.full(ev.shape[1], np.nan)
    final = ev[-1]
    i_gn, i_sig, i_act, i_dead, i_born, _ = tm.init_offsets(n_layers)
    if units not in ("dead", "saturated", "none"):
        raise ValueError(f"units must be 'dead', 'saturated' or 'none', got {units!r}")
    state = (init[i_dead:i_born], final[tm.EVAL_DEAD : tm.EVAL_DEAD + nh], init[i_born])
    none = (None, None, None)
    finite_loss = loss[np.isfinite(loss)]
    out_std, collapsed = math.nan, False
    if output is not None and status == "ok":
        out = np.asarray(output, dtype=np.float64).ravel()
        out_std = exact_std(out)
        scale = 1.0 if target is None else max(1.0, exact_std(target))
        collapsed = bool(out.size > 1 and out_std <= COLLAPSE_TOL * scale)
    return {
        "status": status,
        "diverged": status == "diverged",
        "diverged_step": int(div_step) if div_step >= 0 else -1,
        "final_train_loss": float(final[tm.EVAL_TRAIN_LOSS]),
        "final_train_acc": float(final[tm.EVAL_TRAIN_ACC]),
        "final_test_loss": float(final[tm.EVAL_TEST_LOSS]),
        "final_test_acc": float(final[tm.EVAL_TEST_ACC]),
        "last_good_test_acc": float(last[tm.EVAL_TEST_ACC]),
        "best_test_acc": _nanmax(ev[:, tm.EVAL_TEST_ACC]),
        "best_train_loss": _nanmin(ev[:, tm.EVAL_TRAIN_LOSS]),
        "initial_loss": float(loss[0]),
        "min_loss": float(np.min(finite_loss)) if finite_loss.size else math.nan,
        "grad_norm_mean": gn_mean,
        "grad_norm_std": gn_std,
        "grad_norm_cv": gn_cv,
        "grad_norm_init": float(log[0, tm.LOG_GRAD_NORM]),
        "layer_grad_norm_mean": [p[0] for p in per_layer],
        "layer_grad_norm_cv": [p[2] for p in per_layer],
        "layer_grad_norm_init": [float(x) for x in init[i_gn:i_sig]],
        "signal_norm_init": [float(x) for x in init[i_sig:i_act]],
        "up_fraction": up,
        "tv_ratio": tv,
        **_unit_keys("dead", *(state if units == "dead" else none), nh),
        "final_output_std": out_std,
        "collapsed": collapsed,
        **_unit_keys("saturated", *(state if units == "saturated" else none), nh),
        **{k: float((sharpness or {}).get(k, math.nan)) for k in SHARPNESS_KEYS},
    }


def _nanmax(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.max(x)) if x.size else math.nan


def _nanmin(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.min(x)) if x.size else math.nan


# Two-sided 95% Student-t quantiles t_{0.975, df}; beyond the table, interpolation in 1/df.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042,
         40: 2.021, 60: 2.000, 120: 1.980}  # fmt: skip


def t975(df: int) -> float:
    """Student-t 97.5% quantile for ``df`` degrees of freedom (table + 1/df interpolation)."""
    if df < 1:
        return math.nan
    if df in _T975:
        return _T975[df]
    keys = sorted(_T975)
    if df > keys[-1]:
        lo, hi, tlo, thi = keys[-1], math.inf, _T975[keys[-1]], 1.959964
    else:
        hi = next(k for k in keys if k > df)
        lo = max(k for k in keys if k < df)
        tlo, thi = _T975[lo], _T975[hi]
    x, xlo, xhi = 1 / df, 1 / lo, (1 / hi if hi != math.inf else 0.0)
    return thi + (tlo - thi) * (x - xhi) / (xlo - xhi)


def mean_ci(x) -> tuple[float, float, float, int]:
    """Mean, sample std and 95% t confidence half-width of the finite values, and their count."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = exact_mean(x)
    if n == 1:
        return m, math.nan, math.nan, 1
    s = exact_std(x, ddof=1, mean=m)
    return m, s, t975(n - 1) * s / math.sqrt(n), n


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float, float]:
    """Share ``k / n`` and its Wilson score interval (95% for the default ``z``).

    For shares across seeds (born-dead, diverged, ...) the t interval of
    :func:`mean_ci` collapses to a point at 0 / n or n / n; the Wilson interval stays
    honest there (e.g. 0 of 400 gives [0, 0.0095]).

    Returns
    -------
    (share, low, high) : tuple of float
        NaN when ``n == 0``.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return math.nan, math.nan, math.nan
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return p, max(0.0, mid - half), min(1.0, mid + half)
