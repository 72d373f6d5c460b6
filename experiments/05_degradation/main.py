"""Study 5: degradation of plain deep networks.

Plain ReLU networks with 4, 8, 16, 32 hidden layers (width 20, Kaiming normal weights, zero
biases) on the two-spirals data, trained with full-batch SGD + heavy-ball momentum 0.9,
lr 0.01, 5000 epochs. Claim checked: the deeper plain networks fit the *training* set worse.

    python experiments/05_degradation/main.py            # full study
    python experiments/05_degradation/main.py --quick    # smoke test
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

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
    n_train=1000,
    n_test=1000,
    width=20,
    activation="relu",
    init="he",
    loss="bce",
    optimizer="momentum",
    momentum=0.9,
    lr=0.01,
    log_every=10,
    eval_every=100,
)
METRICS = (
    "final_train_acc",
    "final_test_acc",
    "final_train_loss",
    "best_train_loss",
    "grad_norm_init",
)


def settings(quick: bool) -> dict:
    if quick:
        return dict(depths=[4, 8], seeds=2, epochs=100)
    return dict(depths=[4, 8, 16, 32], seeds=8, epochs=5000)


def fig_accuracy(runs, table, depths) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 2.9))
    rng = np.random.default_rng(0)
    for ax, m, label in (
        (axes[0], "final_train_acc", "final training accuracy"),
        (axes[1], "final_train_loss", "final training loss"),
    ):
        for d in depths:
            v = runs.loc[runs.depth == d, m].to_numpy()
            x = np.log2(d) + rng.uniform(-0.1, 0.1, v.size)
            ax.scatter(x, v, s=10, color=depth_color(d), alpha=0.6, linewidths=0)
        ax.errorbar(
            np.log2(table.depth),
            table[m],
            table[f"{m}_ci"],
            fmt="o-",
            color="k",
            ms=3,
            lw=1,
            label="mean, 95% CI",
        )
        ax.set_xticks(np.log2(depths), [str(d) for d in depths])
        ax.set_xlabel("hidden layers (plain, width 20)")
        ax.set_ylabel(label)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[0].set_title("Training-set fit vs depth (dots: seeds)")
    axes[1].set_title("Training loss vs depth")
    fig.tight_layout()
    return fig


def fig_curves(bands, acc_bands, depths) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 2.9))
    for d in depths:
        for ax, b in ((axes[0], bands), (axes[1], acc_bands)):
            if d not in b:
                continue
            s, med, lo, hi = b[d]
            ax.plot(s, med, color=depth_color(d), lw=1.2, label=f"{d}")
            ax.fill_between(s, lo, hi, color=depth_color(d), alpha=0.2, lw=0)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training loss")
    axes[1].set_ylabel("training accuracy")
    for ax in axes:
        ax.set_xlabel("epoch (full batch)")
    axes[0].legend(title="hidden layers", fontsize=7)
    fig.suptitle("Training curves, median over seeds (IQR band)", fontsize=9.5)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()
    depths = cfg["depths"]
    grid = fd.Grid(
        {"depth": depths, "seed": range(cfg["seeds"])}, base={**BASE, "epochs": cfg["epochs"]}
    )
    res = fd.train_many(grid, threads=args.threads)
    clock.lap(f"training: {len(grid)} runs")
    runs = runs_frame(res, ["depth", "seed"])
    runs.to_csv(out / "runs.csv", index=False, float_format="%.6g")
    loss = curve_bands(res, "loss", by=("depth",))
    acc = curve_bands(res, "train_acc", by=("depth",))
    del res
    table = ci_table(runs, ["depth"], METRICS, count=["diverged", "collapsed"])
    save(fig_accuracy(runs, table, depths), out, "fig_train_fit_vs_depth")
    save(fig_curves(loss, acc, depths), out, "fig_training_curves")
    clock.lap("figures")
    summary = {
        "study": "05 degradation of plain deep networks",
        "quick": args.quick,
        "setup": {**BASE, "epochs": cfg["epochs"], "depths": depths, "seeds": cfg["seeds"]},
        "per_depth": table.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    write_summary(
        out,
        summary,
        {
            "Per depth: mean ± 95% CI over seeds": pm_table(
                table, ["depth", "n", "diverged", "collapsed"], METRICS
            ),
            "Per seed": runs[["depth", "seed", "status", "collapsed", *METRICS]],
        },
    )
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
