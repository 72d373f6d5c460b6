"""Columns of the batched trainer's packed per-network arrays (see :func:`train_batch`).

A batch of networks reaches the compiled trainer as plain arrays: ``icfg`` (int64,
``(n_networks, N_ICFG)``), ``fcfg`` (float64, ``(n_networks, N_FCFG)``) and ``dinfo``
(int64, ``(n_datasets, N_DINFO)``). The names below say which column holds what; the
compiled trainer, its NumPy twin, the input validation and ``fastdepth.engine`` (which
packs a batch) all read them from here.
"""

from __future__ import annotations

#: ``icfg`` columns: dataset row in ``dinfo``; activation, loss, optimizer and schedule
#: codes (:mod:`vocab`); hidden layers per residual block (0 = plain); minibatch size
#: (>= n_train: full batch); optimisation steps; logging and evaluation periods; steps
#: between weight snapshots (0 = none); steps between sharpness measurements (0 = none),
#: the eigenvalues measured (top k) and the Lanczos budget (Hessian-vector products per
#: measurement); the learning-rate rule (:data:`vocab.LR_RULES`).
ICFG: tuple[str, ...] = (
    "data", "activation", "loss", "optimizer", "rblock", "batch", "steps", "log_every",
    "eval_every", "schedule", "snapshot_every", "sharpness_every", "sharpness_k",
    "sharpness_iters", "lr_rule",
)  # fmt: skip
I_DATA, I_ACT, I_LOSS, I_OPT, I_RBLOCK, I_BATCH, I_STEPS, I_LOG, I_EVAL, I_SCHED = range(10)
I_SNAP = 10
I_SHARP, I_SHARP_K, I_SHARP_ITERS, I_LR_RULE = 11, 12, 13, 14
N_ICFG = len(ICFG)

#: ``fcfg`` columns, named as the :class:`fastdepth.RunConfig` fields they come from
#: (``alpha`` resolved to the activation's default, ``clip`` 0 = off). With
#: ``lr_rule = sharpness``, ``lr`` is the constant ``c`` of the rate ``c / lambda_0``.
FCFG: tuple[str, ...] = (
    "lr", "alpha", "momentum", "beta1", "beta2", "eps", "weight_decay", "clip",
    "sharpness_tol",
)  # fmt: skip
F_LR, F_ALPHA, F_MOM, F_BETA1, F_BETA2, F_EPS, F_WD, F_CLIP = range(8)
F_SHARP_TOL = 8
N_FCFG = len(FCFG)

#: ``dinfo`` columns: input dimension, training and test points, and the offsets of the
#: dataset's four arrays in ``xtr``, ``ytr``, ``xte``, ``yte``.
DINFO: tuple[str, ...] = ("n_in", "n_train", "n_test", "x_train", "y_train", "x_test", "y_test")
D_NIN, D_NTR, D_NTE, D_XTR, D_YTR, D_XTE, D_YTE = range(7)
N_DINFO = len(DINFO)

# Each name above is its column's index: a test checks the tuples and constants agree.
