"""Study 9: the edge of stability, stable rates against 2 / lambda_0, and rates set by lambda_0.

ReLU MLPs (width 16, He init) trained by full-batch gradient descent, the sharpness lambda
(top Hessian eigenvalue of the whole training set's loss, Lanczos, 20 steps) measured
inside the trainer.

(a) MSE (regression1d) and BCE (circle), depths 1-8, 2000 steps, each network at the rate
    c / lambda_0 for c = 1, 1.5, 1.9 (lr_rule 'sharpness': every depth starts at the same
    fraction c / 2 of its own stability limit): does lambda rise to 2 / lr and hover there
    (Cohen et al. 2021)? lambda lr / 2 in the hovering phase, steps to reach it.
(b) A fixed-rate grid (0.05 x 2^k, 300 steps): the largest stable rate per depth (as study
    01 defines it) against 2 / lambda_0; rates above 2 / lambda_0 that train (Lewkowycz
    et al. 2020's catapult phase).
(c) Study 01's depth comparison (rings, 1000 points, 1000 steps) at lr 0.05 for every
    depth against lr_rule 'sharpness' with c = 1.

    python experiments/09_edge_of_stability/main.py            # full study
    python experiments/09_edge_of_stability/main.py --quick    # smoke test
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    Clock,
    ci_table,
    depth_color,
    out_dir,
    parse_args,
    plt,
    pm_table,
    runs_frame,
    save,
    write_summary,
)

import fastdepth as fd  # noqa: E402

LOSSES = {"mse": "regression1d", "bce": "circle"}
BASE = dict(n_train=200, n_test=200, width=16, activation="relu", init="he", optimizer="sgd",
            log_every=10, eval_every=100, sharpness_iters=20)  # fmt: skip
EOS = 0.95  # lambda >= 0.95 * 2 / lr counts as at the edge (eos_fraction's threshold)
KEYS = ("loss", "dataset", "depth", "lr", "lr_rule", "seed", "epochs")


def settings(quick: bool) -> dict:
    if quick:
        return dict(depths=[1, 2], cs=[1.5], seeds=1, steps=60, every=10,
                    lrs={"bce": [0.4, 1.6, 6.4], "mse": [0.004, 0.016]}, b_steps=30,
                    c_depths=[1, 2], c_seeds=1, c_steps=30)  # fmt: skip
    # (b)'s grids span 2 / lambda_0 of every depth: ~0.2-1.5 for BCE, ~0.002-0.03 for MSE
    return dict(depths=[1, 2, 4, 6, 8], cs=[1.0, 1.5, 1.9], seeds=3, steps=2000, every=20,
                lrs={"bce": [0.05 * 2**k for k in range(9)],
                     "mse": [0.001 * 2**k for k in range(9)]},
                b_steps=300, c_depths=[1, 2, 4, 6, 8], c_seeds=5, c_steps=1000)  # fmt: skip


def eos_stats(res) -> dict:
    """Per run: steps until lambda first reaches 0.95 x 2/lr, the mean and spread of
    lambda lr / 2 from then on (the hovering phase), and its largest value."""
    c = res.curves[["step", "sharpness"]].dropna()
    lr = res.summary["lr_effective"]
    ratio = c["sharpness"].to_numpy() * lr / 2
    at = np.flatnonzero(ratio >= EOS)
    out = {"ratio_init": ratio[0] if len(ratio) else math.nan, "ratio_max": np.max(ratio),
           "reached": bool(at.size), "steps_to_eos": math.nan, "hover_mean": math.nan,
           "hover_std": math.nan}  # fmt: skip
    if at.size:
        tail = ratio[at[0] :]
        out.update(steps_to_eos=float(c["step"].iloc[at[0]]), hover_mean=float(np.mean(tail)),
                   hover_std=float(np.std(tail)))  # fmt: skip
    return out


def part_a(cfg, threads):
    grid = [fd.RunConfig(dataset=ds, loss=loss, depth=d, lr=c, lr_rule="sharpness", seed=s,
                         epochs=cfg["steps"], sharpness_every=cfg["every"], **BASE)
            for loss, ds in LOSSES.items() for d in cfg["depths"] for c in cfg["cs"]
            for s in range(cfg["seeds"])]  # fmt: skip
    res = fd.train_many(grid, threads=threads)
    rows = []
    for r in res:
        row = {k: getattr(r.config, k) for k in ("loss", "depth", "seed")}
        row.update(c=r.config.lr, status=r.status, lam0=r.init["sharpness"],
                   lr_eff=r.summary["lr_effective"], eos_fraction=r.summary["eos_fraction"],
                   final_train_loss=r.summary["final_train_loss"], **eos_stats(r))  # fmt: skip
        rows.append(row)
    return res, pd.DataFrame(rows)


def fig_eos(res, cfg):
    fig, axes = plt.subplots(len(cfg["cs"]), 2, figsize=(10, 2.6 * len(cfg["cs"]) + 0.6),
                             sharex=True, squeeze=False, layout="constrained")  # fmt: skip
    for j, loss in enumerate(LOSSES):
        for i, c in enumerate(cfg["cs"]):
            ax = axes[i, j]
            for d in cfg["depths"]:
                cell = [r for r in res if r.config.loss == loss and r.config.depth == d
                        and r.config.lr == c and r.status == "ok"]  # fmt: skip
                curves = [r.curves[["step", "sharpness"]].dropna() for r in cell]
                lrs = [r.summary["lr_effective"] for r in cell]
                if not curves:
                    continue
                m = np.vstack([cv["sharpness"].to_numpy() * lr / 2
                               for cv, lr in zip(curves, lrs, strict=True)])  # fmt: skip
                x = curves[0]["step"].to_numpy()
                ax.plot(x, np.median(m, axis=0), color=depth_color(d), label=f"depth {d}")
                ax.fill_between(x, m.min(axis=0), m.max(axis=0), color=depth_color(d),
                                alpha=0.15, lw=0)  # fmt: skip
            ax.axhline(1.0, color="k", ls="--", lw=1)
            ax.set_title(f"{loss.upper()} ({LOSSES[loss]}), lr = {c:g} / λ₀", fontsize=10)
            ax.set_ylabel("λ · lr / 2")
            ax.set_ylim(0, 1.6)
    for ax in axes[-1]:
        ax.set_xlabel("step (full batch)")
    axes[0, 1].legend(fontsize=8, loc="lower right", ncol=2)
    fig.suptitle("Sharpness relative to the stability limit 2 / lr (median, band = range "
                 "over seeds); dashed: the limit", fontsize=11)  # fmt: skip
    return fig


def part_b(cfg, threads):
    grid = [fd.RunConfig(dataset=ds, loss=loss, depth=d, lr=lr, seed=s, epochs=cfg["b_steps"],
                         sharpness_every=cfg["b_steps"], **BASE)
            for loss, ds in LOSSES.items() for d in cfg["depths"] for lr in cfg["lrs"][loss]
            for s in range(cfg["seeds"])]  # fmt: skip
    res = fd.train_many(grid, threads=threads)
    runs = runs_frame(res, ("loss", "depth", "lr", "seed"))
    runs["failed"] = (runs["status"] != "ok") | runs["collapsed"].astype(bool)
    rows = []
    for (loss, d), g in runs.groupby(["loss", "depth"]):
        by_lr = g.groupby("lr")["failed"].any().sort_index()
        fails = by_lr[by_lr].index
        first = float(fails.min()) if len(fails) else math.nan
        stable = by_lr.index[by_lr.index < first] if len(fails) else by_lr.index
        lim = float(np.median(2 / g.drop_duplicates("seed")["sharpness_init"]))
        above = g[(g["lr"] > 2 / g["sharpness_init"]) & ~g["failed"]]
        rows.append(dict(loss=loss, depth=d, two_over_lam0=lim,
                         max_stable_lr=float(stable.max()) if len(stable) else math.nan,
                         min_failing_lr=first,
                         stable_over_limit=(float(stable.max()) / lim) if len(stable) else math.nan,
                         failing_over_limit=first / lim,
                         ok_above_limit=len(above),
                         catapulted=int((above["sharpness_final"] < 2 / above["lr"]).sum()),
                         ))  # fmt: skip
    return runs, pd.DataFrame(rows)


def fig_stable(table, cfg):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True, layout="constrained")
    for ax, loss in zip(axes, LOSSES, strict=True):
        t = table[table["loss"] == loss]
        ax.plot(t["depth"], t["max_stable_lr"], "o-", color="k", label="largest stable lr")
        ax.plot(t["depth"], t["min_failing_lr"], "x", color="C3", ms=8, mew=2,
                label="smallest failing lr")  # fmt: skip
        ax.plot(t["depth"], t["two_over_lam0"], "D:", color="C0", mfc="white",
                label="2 / λ₀ (median over seeds)")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xticks(cfg["depths"])
        ax.set_xlabel("depth (hidden layers)")
        ax.set_title(f"{loss.upper()} ({LOSSES[loss]}), {cfg['b_steps']} steps", fontsize=10)
    axes[0].set_ylabel("learning rate")
    axes[0].legend(fontsize=8)
    fig.suptitle("Largest stable learning rate against the initial stability limit 2 / λ₀",
                 fontsize=11)  # fmt: skip
    return fig


def part_c(cfg, threads):
    base = dict(dataset="rings", n_train=1000, n_test=1000, width=16, activation="relu",
                init="he", loss="bce", optimizer="sgd", epochs=cfg["c_steps"], log_every=10,
                eval_every=cfg["c_steps"])  # fmt: skip
    arms = {"fixed lr 0.05": dict(lr=0.05), "lr_rule sharpness, 1 / λ₀": dict(
        lr=1.0, lr_rule="sharpness")}  # fmt: skip
    grid = [fd.RunConfig(depth=d, seed=s, **base, **kw) for kw in arms.values()
            for d in cfg["c_depths"] for s in range(cfg["c_seeds"])]  # fmt: skip
    res = fd.train_many(grid, threads=threads)
    runs = runs_frame(res, ("depth", "lr_rule", "seed"))
    runs["arm"] = runs["lr_rule"].map({"fixed": "fixed lr 0.05",
                                       "sharpness": "lr_rule sharpness, 1 / λ₀"})  # fmt: skip
    metrics = ["final_test_acc", "final_train_loss", "lr_effective"]
    return runs, ci_table(runs, ["arm", "depth"], metrics, count=["diverged", "collapsed"])


def fig_rule(table, cfg):
    fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
    for k, (arm, t) in enumerate(table.groupby("arm", sort=False)):
        ax.errorbar(t["depth"] + 0.08 * (k - 0.5), t["final_test_acc"], yerr=t["final_test_acc_ci"],
                    marker="os"[k], capsize=3, label=arm)  # fmt: skip
    ax.set_xticks(cfg["c_depths"])
    ax.set_xlabel("depth (hidden layers)")
    ax.set_ylabel("final test accuracy (mean, 95% CI)")
    ax.set_title(f"rings, {cfg['c_steps']} steps of full-batch GD", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()
    res_a, a = part_a(cfg, args.threads)
    clock.lap(f"(a) edge of stability: {len(res_a)} runs")
    save(fig_eos(res_a, cfg), out, "fig_eos_curves")
    del res_a
    a.to_csv(out / "runs_eos.csv", index=False, float_format="%.6g")
    ta = ci_table(a, ["loss", "depth", "c"], ["ratio_init", "ratio_max", "steps_to_eos",
                                               "hover_mean", "hover_std", "eos_fraction"],
                  count=["reached"])  # fmt: skip
    runs_b, b = part_b(cfg, args.threads)
    clock.lap(f"(b) stable rates: {len(runs_b)} runs")
    save(fig_stable(b, cfg), out, "fig_stable_lr_vs_sharpness")
    runs_c, c = part_c(cfg, args.threads)
    clock.lap(f"(c) rate rule: {len(runs_c)} runs")
    save(fig_rule(c, cfg), out, "fig_lr_rule_vs_fixed")
    summary = {
        "study": "09 edge of stability",
        "quick": args.quick,
        "setup": {**BASE, **cfg, "losses": LOSSES, "eos_threshold": EOS},
        "eos": ta.to_dict(orient="records"),
        "stable_lr": b.to_dict(orient="records"),
        "lr_rule": c.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    write_summary(out, summary, {
        "(a) λ·lr/2 per loss, depth and c (mean ± 95% CI over seeds; reached = seeds that "
        "reached 0.95)": pm_table(ta, ["loss", "depth", "c", "n", "reached"],
                                  ["ratio_init", "ratio_max", "steps_to_eos", "hover_mean",
                                   "hover_std", "eos_fraction"]),
        "(b) largest stable rate against 2 / λ₀": b,
        "(c) fixed lr 0.05 against lr_rule sharpness (c = 1)": pm_table(
            c, ["arm", "depth", "n", "diverged", "collapsed"],
            ["final_test_acc", "final_train_loss", "lr_effective"]),
    })  # fmt: skip
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
