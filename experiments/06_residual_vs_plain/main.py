"""Study 6: residual connections against plain networks of the same depth.

Plain ReLU networks against residual ones built from two-layer blocks ``h = relu(h_in + W2
relu(W1 h_in))``, with 2, 5, 10, 25 blocks: hidden layer 1 maps the input to the width and is
never skipped, so B blocks = 2B + 1 hidden layers = 2B + 2 weight layers (6, 12, 22, 52).
Spirals, width 16, He init, zero biases, Adam lr 1e-3 with a cosine schedule, 3000 full-batch
epochs. Four arms per seed, all from the same drawn weights: plain, residual as drawn, and
residual with each block's last layer zeroed or scaled by 1/sqrt(B)
(``RunConfig.residual_init``, see fastdepth.init).

    python experiments/06_residual_vs_plain/main.py            # full study
    python experiments/06_residual_vs_plain/main.py --quick    # smoke test
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    OKABE_ITO,
    Clock,
    ci_table,
    curve_bands,
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

BASE = dict(
    dataset="spirals",
    n_train=500,
    n_test=500,
    width=16,
    activation="relu",
    init="he",
    loss="bce",
    optimizer="adam",
    lr=1e-3,
    schedule="cosine",
    residual_block=2,
    log_every=10,
    eval_every=100,
)
METRICS = ("final_train_acc", "final_test_acc", "final_train_loss", "grad_norm_init")
# arm -> (residual, residual_init, line style, marker, label)
ARMS = {
    "plain": (False, "none", "--", "s", "plain"),
    "residual": (True, "none", "-", "o", "residual, as drawn"),
    "residual_zero": (True, "zero", "-.", "^", "residual, zero block ends"),
    "residual_scaled": (True, "scaled", ":", "D", "residual, 1/sqrt(B) block ends"),
}
# mean lines in Okabe-Ito colours (the seed dots keep the depth colours of every study)
ARM_COLOR = dict(zip(ARMS, ("#000000", OKABE_ITO[1], OKABE_ITO[0], OKABE_ITO[2]), strict=True))
OFFSET = dict(zip(ARMS, (-0.09, -0.03, 0.03, 0.09), strict=True))


def arm_of(residual: bool, residual_init: str) -> str:
    return (
        "plain"
        if not residual
        else "residual" + ("" if residual_init == "none" else "_" + residual_init)
    )


def settings(quick: bool) -> dict:
    if quick:
        return dict(blocks=[2, 5], seeds=2, epochs=100)
    return dict(blocks=[2, 5, 10, 25], seeds=8, epochs=3000)


def fig_accuracy(runs: pd.DataFrame, table: pd.DataFrame, blocks) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.4))
    rng = np.random.default_rng(0)
    cols = (
        ("final_train_acc", "final training accuracy"),
        ("final_test_acc", "final test accuracy"),
        ("final_train_loss", "final training loss"),
    )
    layers = [2 * b + 2 for b in blocks]
    for ax, (m, label) in zip(axes, cols, strict=True):
        for arm, (_, _, ls, mk, name) in ARMS.items():
            t = table[table.arm == arm].sort_values("depth")
            x = np.log2(t.depth + 1) + OFFSET[arm]
            for d in t.depth:
                v = runs.loc[(runs.arm == arm) & (runs.depth == d), m].to_numpy()
                xs = np.log2(d + 1) + OFFSET[arm] + rng.uniform(-0.025, 0.025, v.size)
                ax.scatter(
                    xs,
                    v,
                    s=9,
                    color=depth_color(d),
                    alpha=0.7,
                    marker=mk,
                    linewidths=0.3,
                    edgecolors="0.3",
                )
            if m == "final_train_loss":  # log axis: median and IQR, not mean +- CI
                g = runs[runs.arm == arm].groupby("depth")[m]
                q = g.quantile([0.25, 0.5, 0.75]).unstack().reindex(t.depth)
                y, err, what = q[0.5], [q[0.5] - q[0.25], q[0.75] - q[0.5]], "median, IQR"
            else:
                y, err, what = t[m], t[f"{m}_ci"], "mean, 95% CI"
            ax.errorbar(
                x,
                y,
                err,
                ls=ls,
                marker=mk,
                color=ARM_COLOR[arm],
                ms=3.5,
                lw=1.2,
                mfc="w" if arm == "plain" else ARM_COLOR[arm],
                label=f"{name} ({what})",
            )
        ax.set_xticks(np.log2(layers), [str(v) for v in layers])
        ax.set_xlabel("weight layers (blocks: " + ", ".join(map(str, blocks)) + ")")
        ax.set_ylabel(label)
    axes[2].set_yscale("log")
    axes[2].legend(fontsize=6.5)
    fig.suptitle("Plain vs residual, spirals, Adam 1e-3 cosine (dots: seeds)", fontsize=9.5)
    fig.tight_layout()
    return fig


def fig_curves(bands: dict, depths) -> plt.Figure:
    fig, axes = plt.subplots(1, 4, figsize=(12.5, 2.9), sharey=True)
    for ax, (res, ri, *_, label) in zip(axes, ARMS.values(), strict=True):
        for d in depths:
            if (res, ri, d) not in bands:
                continue
            s, med, lo, hi = bands[(res, ri, d)]
            ax.plot(s, med, color=depth_color(d), lw=1.2, label=f"{d + 1}")
            ax.fill_between(s, lo, hi, color=depth_color(d), alpha=0.2, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=9)
    axes[0].set_ylabel("training loss (median, IQR)")
    axes[-1].legend(title="weight layers", fontsize=7)
    fig.tight_layout()
    return fig


def fig_init_profile(res_list, depths) -> plt.Figure:
    """Per-layer weight-gradient norm at init, per arm, median over seeds."""
    fig, axes = plt.subplots(1, 4, figsize=(12.5, 2.9), sharey=True)
    for ax, (arm, (*_, label)) in zip(axes, ARMS.items(), strict=True):
        for d in depths:
            g = np.array(
                [
                    r.init["grad_norm"]
                    for r in res_list
                    if arm_of(r.config.residual, r.config.residual_init) == arm
                    and r.config.depth == d
                ]
            )
            if g.size == 0:
                continue
            ax.plot(
                np.arange(1, d + 2),
                np.median(g, axis=0),
                color=depth_color(d),
                lw=1.2,
                label=f"{d + 1}",
            )
        ax.set_yscale("log")
        ax.set_xlabel("weight layer (1 = input side)")
        ax.set_title(label, fontsize=9)
    axes[0].set_ylabel("median $\\|\\partial L/\\partial W_k\\|_F$ at init")
    axes[-1].legend(title="weight layers", fontsize=7)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()
    depths = [2 * b + 1 for b in cfg["blocks"]]
    grid = fd.Grid(
        {
            "residual": [a[0] for a in ARMS.values()],
            "residual_init": [a[1] for a in ARMS.values()],
            "depth": depths,
            "seed": range(cfg["seeds"]),
        },
        base={**BASE, "epochs": cfg["epochs"]},
        zip=[("residual", "residual_init")],
    )
    res = fd.train_many(grid, threads=args.threads)
    clock.lap(f"training: {len(grid)} runs")
    runs = runs_frame(res, ["residual", "residual_init", "depth", "seed"])
    runs.insert(
        0, "arm", [arm_of(a, b) for a, b in zip(runs.residual, runs.residual_init, strict=True)]
    )
    runs["weight_layers"] = runs.depth + 1
    runs["act_sq_last_init"] = [r.init["act_sq"][-1] for r in res]
    runs.to_csv(out / "runs.csv", index=False, float_format="%.6g")
    bands = curve_bands(res, "loss", ("residual", "residual_init", "depth"))
    save(fig_init_profile(res, depths), out, "fig_gradient_per_layer_at_init")
    del res
    metrics = [*METRICS, "act_sq_last_init"]
    table = ci_table(runs, ["arm", "depth"], metrics, count=["diverged", "collapsed"])
    table["order"] = table.arm.map({a: i for i, a in enumerate(ARMS)})
    table = table.sort_values(["order", "depth"]).drop(columns="order").reset_index(drop=True)
    table.insert(2, "weight_layers", table.depth + 1)
    save(fig_accuracy(runs, table, cfg["blocks"]), out, "fig_plain_vs_residual")
    save(fig_curves(bands, depths), out, "fig_training_curves")
    clock.lap("figures")
    summary = {
        "study": "06 residual vs plain",
        "quick": args.quick,
        "setup": {
            **BASE,
            "epochs": cfg["epochs"],
            "blocks": cfg["blocks"],
            "arms": {a: {"residual": v[0], "residual_init": v[1]} for a, v in ARMS.items()},
            "hidden_layers": depths,
            "seeds": cfg["seeds"],
        },
        "per_depth": table.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    keys = ["arm", "depth", "weight_layers", "n", "diverged", "collapsed"]
    write_summary(out, summary, {"Mean ± 95% CI over seeds": pm_table(table, keys, metrics)})
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
