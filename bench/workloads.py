"""The benchmark workloads, as run configs (public API only).

W1 is the project's reference workload: the original depth study's nested-rings problem
(4 rings, N = 1000), width 16, ReLU, He init, full-batch GD at lr 0.05 for 1000 steps,
depths 1, 2, 4, 6, 8 x 50 seeds (250 networks, 1284.8 GFLOP of training), with the loss
and every layer's gradient norm logged every step.
"""

from __future__ import annotations

import fastdepth as fd

W1_DEPTHS = (1, 2, 4, 6, 8)
W1_GFLOP = 1284.8  # for 50 seeds


def w1_runs(seeds: int = 50, dtype: str = "float64", steps: int = 1000,
            activation: str = "relu") -> list[fd.RunConfig]:  # fmt: skip
    """Workload W1: nested rings (N=1000), width 16, ReLU, He, full-batch GD lr 0.05.

    Loss and every layer's gradient norm are logged every step; accuracy is evaluated
    at the start and the end only (``eval_every = steps``), as W1 counts training FLOPs.
    ``activation="tanh"`` gives the same workload with tanh and Xavier init (the pairing
    of the vanishing-gradient studies); its FLOP count leaves the activation out.
    """
    init = "he" if activation == "relu" else "xavier"
    base = fd.RunConfig(dataset="rings", n_train=1000, n_test=1000, width=16,
                        activation=activation, init=init, loss="bce", optimizer="sgd", lr=0.05,
                        epochs=steps, log_every=1, eval_every=steps, dtype=dtype)  # fmt: skip
    return [base.replace(depth=d, seed=s) for d in W1_DEPTHS for s in range(seeds)]


def w1_gflop(runs: list[fd.RunConfig]) -> float:
    """Training FLOPs of ``runs`` in GFLOP (``Layout.flops_per_sample``, ``6 S - 2 w_1``, per
    sample and step)."""
    return sum(r.layout().flops_per_sample * r.n_train * r.n_steps for r in runs) / 1e9


def small_runs(seeds: int = 50) -> list[fd.RunConfig]:
    """Small problems: N = 200, width 8, depths 1-8, 2000 steps.

    Here Python overhead, not arithmetic, is what a NumPy loop pays.
    """
    base = fd.RunConfig(dataset="rings", n_train=200, n_test=200, width=8, epochs=2000, lr=0.05,
                        log_every=1, eval_every=2000)  # fmt: skip
    return [base.replace(depth=d, seed=s) for d in range(1, 9) for s in range(seeds)]
