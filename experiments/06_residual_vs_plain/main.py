"""Study 6: residual connections against plain networks of the same depth.

Plain ReLU networks against residual ones built from two-layer blocks ``h = relu(h_in + W2
relu(W1 h_in))``, with 2, 5, 10, 25 blocks: hidden layer 1 maps the input to the width and is
never skipped, so B blocks = 2B + 1 hidden layers = 2B + 2 weight layers (6, 12, 22, 52).
Spirals, width 16, He init, zero biases, Adam lr 1e-3 with a cosine schedule, 3000 full-batch
epochs, identical initial weights for the plain and residual twin of every seed.

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
STYLE = {False: ("--", "s", "plain"), True: ("-", "o", "residual")}


def settings(quick: bool) -> dict:
    if quick:
        return dict(blocks=[2, 5], seeds=2, epochs=100)
    return dict(blocks=[2, 5, 10, 25], seeds=8, epochs=3000)


def fig_accuracy(runs: pd.DataFrame, table: pd.DataFrame, blocks) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.0))
    rng = np.random.default_rng(0)
    cols = (
        ("final_train_acc", "final training accuracy"),
        ("final_test_acc", "final test accuracy"),
        ("final_train_loss", "final training loss"),
    )
    layers = [2 * b + 2 for b in blocks]
    for ax, (m, label) in zip(axes, cols, strict=True):
        for res in (False, True):
            ls, mk, name = STYLE[res]
            t = table[table.residual == res].sort_values("depth")
            x = np.log2(t.depth + 1) + (0.04 if res else -0.04)
            for d in t.depth:
                v = runs.loc[(runs.residual == res) & (runs.depth == d), m].to_numpy()
                xs = np.log2(d + 1) + (0.04 if res else -0.04) + rng.uniform(-0.05, 0.05, v.size)
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
                g = runs[runs.residual == res].groupby("depth")[m]
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
                color="k",
                ms=3,
                lw=1,
                mfc="w" if not res else "k",
                label=f"{name} ({what})",
            )
        ax.set_xticks(np.log2(layers), [str(v) for v in layers])
        ax.set_xlabel("weight layers (blocks: " + ", ".join(map(str, blocks)) + ")")
        ax.set_ylabel(label)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.suptitle("Plain vs residual, spirals, Adam 1e-3 cosine (dots: seeds)", fontsize=9.5)
    fig.tight_layout()
    return fig


def fig_curves(bands: dict, depths) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 2.9), sharey=True)
    for ax, res in zip(axes, (False, True), strict=True):
        for d in depths:
            if (res, d) not in bands:
                continue
            s, med, lo, hi = bands[(res, d)]
            ax.plot(s, med, color=depth_color(d), lw=1.2, label=f"{d + 1}")
            ax.fill_between(s, lo, hi, color=depth_color(d), alpha=0.2, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(STYLE[res][2])
    axes[0].set_ylabel("training loss (median, IQR)")
    axes[1].legend(title="weight layers", fontsize=7)
    fig.tight_layout()
    return fig


def fig_init_profile(res_list, depths) -> plt.Figure:
    """Per-layer weight-gradient norm at init, plain vs residual, median over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 2.9), sharey=True)
    for ax, res in zip(axes, (False, True), strict=True):
        for d in depths:
            g = np.array(
                [
                    r.init["grad_norm"]
                    for r in res_list
                    if r.config.residual == res and r.config.depth == d
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
        ax.set_title(f"{STYLE[res][2]}: gradient norm per layer at init")
    axes[0].set_ylabel(r"median $\|\partial L/\partial W_k\|_F$")
    axes[1].legend(title="weight layers", fontsize=7)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()
    depths = [2 * b + 1 for b in cfg["blocks"]]
    grid = fd.Grid(
        {"residual": [False, True], "depth": depths, "seed": range(cfg["seeds"])},
        base={**BASE, "epochs": cfg["epochs"]},
    )
    res = fd.train_many(grid, threads=args.threads)
    clock.lap(f"training: {len(grid)} runs")
    runs = runs_frame(res, ["residual", "depth", "seed"])
    runs["weight_layers"] = runs.depth + 1
    runs["act_sq_last_init"] = [r.init["act_sq"][-1] for r in res]
    runs.to_csv(out / "runs.csv", index=False, float_format="%.6g")
    bands = curve_bands(res, "loss", ("residual", "depth"))
    save(fig_init_profile(res, depths), out, "fig_gradient_per_layer_at_init")
    del res
    metrics = [*METRICS, "act_sq_last_init"]
    table = ci_table(runs, ["residual", "depth"], metrics, count="diverged")
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
            "hidden_layers": depths,
            "seeds": cfg["seeds"],
        },
        "per_depth": table.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    keys = ["residual", "depth", "weight_layers", "n", "diverged"]
    write_summary(out, summary, {"Mean ± 95% CI over seeds": pm_table(table, keys, metrics)})
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
