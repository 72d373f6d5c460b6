"""Study 4: activation functions on the two spirals.

An 8-hidden-layer network of width 20 with sigmoid, ReLU, leaky ReLU (slope 0.01), tanh or GELU,
trained with Adam (lr 0.005, full batch, 3000 epochs) on two interleaved spirals; accuracy across
seeds and the decision boundary of the median seed of each activation. Each activation gets its
customary initialisation: Kaiming (He) normal for the ReLU family and GELU, Xavier (Glorot)
normal for sigmoid and tanh; zero biases.

    python experiments/04_activations_spirals/main.py            # full study
    python experiments/04_activations_spirals/main.py --quick    # smoke test
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    OKABE_ITO,
    Clock,
    ci_table,
    curve_bands,
    decision_panel,
    out_dir,
    parse_args,
    plt,
    pm_table,
    runs_frame,
    save,
    write_summary,
)

import fastdepth as fd  # noqa: E402

ACTS = (
    ("sigmoid", "xavier"),
    ("relu", "he"),
    ("leaky_relu", "he"),
    ("tanh", "xavier"),
    ("gelu", "he"),
)
BASE = dict(
    dataset="spirals",
    n_train=500,
    n_test=500,
    depth=8,
    width=20,
    loss="bce",
    optimizer="adam",
    lr=0.005,
    log_every=10,
    eval_every=100,
)
METRICS = ("final_train_acc", "final_test_acc", "final_train_loss", "best_test_acc")
COLOR = {a: OKABE_ITO[i] for i, (a, _) in enumerate(ACTS)}


def settings(quick: bool) -> dict:
    if quick:
        return dict(seeds=2, epochs=100)
    return dict(seeds=8, epochs=3000)


def fig_accuracy(runs, table) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 2.9), sharey=True)
    rng = np.random.default_rng(0)
    acts = [a for a, _ in ACTS]
    for ax, m, label in (
        (axes[0], "final_train_acc", "training accuracy"),
        (axes[1], "final_test_acc", "test accuracy"),
    ):
        for i, a in enumerate(acts):
            v = runs.loc[runs.activation == a, m].to_numpy()
            ax.scatter(
                i + rng.uniform(-0.15, 0.15, v.size),
                v,
                s=10,
                color=COLOR[a],
                alpha=0.6,
                linewidths=0,
            )
            t = table[table.activation == a].iloc[0]
            ax.errorbar(i + 0.3, t[m], t[f"{m}_ci"], fmt="o", color="k", ms=3)
        ax.set_xticks(range(len(acts)), acts)
        ax.set_title(f"final {label} (dots: seeds; black: mean, 95% CI)", fontsize=8)
    axes[0].set_ylabel("accuracy")
    fig.tight_layout()
    return fig


def fig_curves(bands) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(4.4, 3.0))
    for a, _ in ACTS:
        if a in bands:
            s, med, lo, hi = bands[a]
            ax.plot(s, med, color=COLOR[a], lw=1.2, label=a)
            ax.fill_between(s, lo, hi, color=COLOR[a], alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (median, IQR)")
    ax.legend(fontsize=7)
    ax.set_title("8 hidden layers, width 20, Adam 0.005")
    fig.tight_layout()
    return fig


def fig_boundaries(chosen) -> plt.Figure:
    fig, axes = plt.subplots(1, len(chosen), figsize=(2.2 * len(chosen), 2.5))
    for ax, r in zip(np.atleast_1d(axes), chosen, strict=True):
        decision_panel(ax, r)
        s = r.summary
        ax.set_title(
            f"{r.config.activation} (seed {r.config.seed})\n"
            f"train {s['final_train_acc']:.3f}, test {s['final_test_acc']:.3f}",
            fontsize=8,
        )
    fig.suptitle(
        "Decision boundaries: the median-test-accuracy seed of each activation", fontsize=9.5
    )
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()
    grid = fd.Grid(
        {
            "activation": [a for a, _ in ACTS],
            "init": [i for _, i in ACTS],
            "seed": range(cfg["seeds"]),
        },
        base={**BASE, "epochs": cfg["epochs"]},
        zip=[("activation", "init")],
    )
    res = fd.train_many(grid, threads=args.threads)
    clock.lap(f"training: {len(grid)} runs")
    runs = runs_frame(res, ["activation", "init", "seed"])
    runs.to_csv(out / "runs.csv", index=False, float_format="%.6g")
    table = ci_table(runs, ["activation"], METRICS, count="diverged")
    chosen = []
    for a, _ in ACTS:  # the seed whose test accuracy is the (lower) median of its activation
        rs = sorted(
            (r for r in res if r.config.activation == a), key=lambda r: r.summary["final_test_acc"]
        )
        chosen.append(rs[(len(rs) - 1) // 2])
    save(fig_accuracy(runs, table), out, "fig_accuracy_by_activation")
    save(fig_curves(curve_bands(res, "loss", ("activation",))), out, "fig_training_loss")
    save(fig_boundaries(chosen), out, "fig_decision_boundaries")
    clock.lap("figures")
    summary = {
        "study": "04 activations on spirals",
        "quick": args.quick,
        "setup": {
            **BASE,
            "epochs": cfg["epochs"],
            "activations_inits": ACTS,
            "seeds": cfg["seeds"],
        },
        "per_activation": table.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    write_summary(
        out,
        summary,
        {
            "Mean ± 95% CI over seeds": pm_table(table, ["activation", "n", "diverged"], METRICS),
            "Per seed": runs[["activation", "init", "seed", "status", *METRICS]],
        },
    )
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
