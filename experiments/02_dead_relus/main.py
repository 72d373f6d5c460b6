"""Study 2: dead ReLUs and initialisation, over hundreds of seeds.

A poor initialisation (``small``: every weight N(0, 0.01^2), zero biases) against He (Kaiming
normal, zero biases) on the circle data of the original study. A hidden unit is *dead* when its
pre-activation is <= 0 for every training input; a network is *born dead* when some hidden
layer is entirely dead at initialisation (its output is then constant).

Part A (initialisation only, ``epochs=1``): dead-unit fraction per layer and the share of
born-dead networks against depth and width. Part B (training, the original study's settings:
full-batch GD, lr 0.05, 1000 steps): how the dead fractions and accuracy change after training.

    python experiments/02_dead_relus/main.py            # full study
    python experiments/02_dead_relus/main.py --quick    # smoke test
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
    out_dir,
    parse_args,
    plt,
    pm_table,
    save,
    write_summary,
)

import fastdepth as fd  # noqa: E402
from fastdepth.metrics import wilson_interval  # noqa: E402

INITS = ("he", "small")
INIT_STYLE = {"he": ("-", "o", "He (Kaiming) normal"), "small": ("--", "s", "small N(0, 0.01²)")}
BASE = dict(dataset="circle", n_train=1000, n_test=200, activation="relu", loss="bce")
TRAIN = dict(optimizer="sgd", lr=0.05, log_every=10, eval_every=50)


def settings(quick: bool) -> dict:
    if quick:
        return dict(
            depths=[2, 4],
            widths=[4, 16],
            seeds=20,
            t_depths=[2, 4],
            t_widths=[4],
            t_seeds=2,
            epochs=50,
        )
    return dict(
        depths=[1, 2, 4, 8, 16],
        widths=[2, 4, 8, 16, 32],
        seeds=400,
        t_depths=[2, 4, 8],
        t_widths=[4, 16],
        t_seeds=50,
        epochs=1000,
    )


def layer_frame(results, which: str) -> pd.DataFrame:
    """One row per (run, hidden layer): dead fraction at init or at the end."""
    rows = []
    for r in results:
        c = r.config
        for k, v in enumerate(r.summary[f"layer_dead_{which}"]):
            rows.append((c.init, c.depth, c.width, c.seed, k + 1, v))
    return pd.DataFrame(rows, columns=["init", "depth", "width", "seed", "layer", "dead"])


def born_dead_table(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (init, d, w), g in runs.groupby(["init", "depth", "width"]):
        p, lo, hi = wilson_interval(int(g.born_dead.sum()), len(g))
        rows.append(
            dict(
                init=init,
                depth=d,
                width=w,
                n=len(g),
                born_dead=p,
                lo=lo,
                hi=hi,
                dead_frac=g.dead_frac_init.mean(),
                dead_frac_max=g.dead_frac_init_max.mean(),
            )
        )
    return pd.DataFrame(rows)


def fig_born_dead(bd: pd.DataFrame, depths, widths) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2))
    for ax, col, label in (
        (axes[0], "born_dead", "share of born-dead networks"),
        (axes[1], "dead_frac", "mean dead-unit fraction at init"),
    ):
        for j, w in enumerate(widths):
            for init in INITS:
                ls, mk, _ = INIT_STYLE[init]
                t = bd[(bd.width == w) & (bd.init == init)].sort_values("depth")
                x = np.log2(t.depth) + (0.03 if init == "small" else -0.03)
                kw = dict(
                    color=OKABE_ITO[j], ls=ls, marker=mk, mfc="w" if init == "small" else None
                )
                if col == "born_dead":
                    ax.errorbar(x, t.born_dead, [t.born_dead - t.lo, t.hi - t.born_dead], **kw)
                else:
                    ax.plot(x, t.dead_frac, **kw)
        ax.set_xticks(np.log2(depths), [str(d) for d in depths])
        ax.set_xlabel("hidden layers (depth)")
        ax.set_ylabel(label)
    handles = [
        plt.Line2D([], [], color=OKABE_ITO[j], label=f"width {w}") for j, w in enumerate(widths)
    ]
    handles += [
        plt.Line2D(
            [],
            [],
            color="k",
            ls=INIT_STYLE[i][0],
            marker=INIT_STYLE[i][1],
            mfc="w" if i == "small" else "k",
            label=INIT_STYLE[i][2],
        )
        for i in INITS
    ]
    axes[1].legend(handles=handles, fontsize=7, loc="upper left")
    n = int(bd.n.iloc[0])
    axes[0].set_title(f"Born dead at init ({n} seeds per point, 95% Wilson CI)")
    axes[1].set_title("Dead units at init, averaged over layers and seeds")
    fig.tight_layout()
    return fig


def fig_per_layer(layers: pd.DataFrame, depth: int, widths) -> plt.Figure:
    fig, axes = plt.subplots(1, len(widths), figsize=(2.1 * len(widths), 2.6), sharey=True)
    for ax, w in zip(np.atleast_1d(axes), widths, strict=True):
        for j, init in enumerate(INITS):
            g = layers[(layers.depth == depth) & (layers.width == w) & (layers.init == init)]
            m = g.groupby("layer").dead.mean()
            ls, mk, label = INIT_STYLE[init]
            ax.plot(m.index, m.values, ls=ls, marker=mk, ms=3, color=OKABE_ITO[j], label=label)
        ax.set_title(f"width {w}")
        ax.set_xlabel("hidden layer")
    np.atleast_1d(axes)[0].set_ylabel("dead-unit fraction at init")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle(f"Dead units per layer at init, depth {depth} (mean over seeds)", fontsize=9.5)
    fig.tight_layout()
    return fig


def fig_training(tr: pd.DataFrame, t_depths, t_widths) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.0))
    cols = (
        ("dead_frac_init", "dead_frac_end", "mean dead-unit fraction"),
        ("final_test_acc", None, "final test accuracy"),
        ("final_train_loss", None, "final training loss"),
    )
    labels = []
    for i, (a, b, ylabel) in enumerate(cols):
        ax = axes[i]
        pos = 0
        for init in INITS:
            for w in t_widths:
                for d in t_depths:
                    t = tr[(tr.init == init) & (tr.width == w) & (tr.depth == d)].iloc[0]
                    color = OKABE_ITO[INITS.index(init)]
                    if b is None:
                        ax.errorbar(pos, t[a], t[f"{a}_ci"], fmt="o", color=color)
                    else:
                        ax.errorbar(pos - 0.15, t[a], t[f"{a}_ci"], fmt="o", color=color, mfc="w")
                        ax.errorbar(pos + 0.15, t[b], t[f"{b}_ci"], fmt="o", color=color)
                    if i == 0:
                        labels.append(f"d{d}\nw{w}")
                    pos += 1
        ax.set_xticks(range(pos), labels, fontsize=6.5)
        ax.set_ylabel(ylabel)
        ax.axvline(pos / 2 - 0.5, color="0.6", lw=0.8)
    handles = [
        plt.Line2D([], [], color=OKABE_ITO[i], marker="o", ls="", label=INIT_STYLE[init][2])
        for i, init in enumerate(INITS)
    ]
    axes[1].legend(handles=handles, fontsize=7, loc="lower left")
    axes[0].set_title("dead units: hollow = init, filled = after training", fontsize=8)
    axes[1].set_title("test accuracy after 1000 steps (lr 0.05)", fontsize=8)
    axes[2].set_yscale("log")
    axes[2].set_title("training loss after 1000 steps", fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()

    # --- part A: initialisation only, many seeds
    grid = fd.Grid(
        {
            "init": list(INITS),
            "depth": cfg["depths"],
            "width": cfg["widths"],
            "seed": range(cfg["seeds"]),
        },
        base={**BASE, "epochs": 1},
    )
    res = fd.train_many(grid, threads=args.threads)
    clock.lap(f"init telemetry: {len(grid)} runs")
    runs = pd.DataFrame(
        [
            dict(
                init=r.config.init,
                depth=r.config.depth,
                width=r.config.width,
                seed=r.config.seed,
                born_dead=r.init["born_dead"],
                dead_frac_init=r.summary["dead_frac_init"],
                dead_frac_init_max=r.summary["dead_frac_init_max"],
            )
            for r in res
        ]
    )
    layers = layer_frame(res, "init")
    del res
    bd = born_dead_table(runs)
    deepest = max(cfg["depths"])
    save(fig_born_dead(bd, cfg["depths"], cfg["widths"]), out, "fig_born_dead_vs_depth_width")
    save(fig_per_layer(layers, deepest, cfg["widths"]), out, "fig_dead_per_layer_deepest")
    per_layer = layers[layers.depth == deepest].groupby(["init", "width", "layer"]).dead.mean()

    # --- part B: what training does to them
    tgrid = fd.Grid(
        {
            "init": list(INITS),
            "depth": cfg["t_depths"],
            "width": cfg["t_widths"],
            "seed": range(cfg["t_seeds"]),
        },
        base={**BASE, **TRAIN, "epochs": cfg["epochs"]},
    )
    tres = fd.train_many(tgrid, threads=args.threads)
    clock.lap(f"training: {len(tgrid)} runs")
    trows = []
    for r in tres:
        s = r.summary
        trows.append(
            dict(
                init=r.config.init,
                depth=r.config.depth,
                width=r.config.width,
                seed=r.config.seed,
                born_dead=s["born_dead"],
                dead_frac_init=s["dead_frac_init"],
                dead_frac_end=s["dead_frac_end"],
                final_test_acc=s["final_test_acc"],
                final_train_loss=s["final_train_loss"],
                grad_norm_init=s["grad_norm_init"],
                diverged=s["diverged"],
            )
        )
    del tres
    trr = pd.DataFrame(trows)
    metrics = [
        "dead_frac_init",
        "dead_frac_end",
        "final_test_acc",
        "final_train_loss",
        "grad_norm_init",
    ]
    tr = ci_table(trr, ["init", "depth", "width"], metrics, count="born_dead")
    # born-dead networks after training: do any recover?
    bd_after = trr[trr.born_dead].groupby("init").final_test_acc.describe()
    save(fig_training(tr, cfg["t_depths"], cfg["t_widths"]), out, "fig_after_training")
    clock.lap("figures")

    summary = {
        "study": "02 dead ReLUs and initialisation",
        "quick": args.quick,
        "setup": {**BASE, **cfg, "train": TRAIN},
        "born_dead": bd.to_dict(orient="records"),
        "training": tr.to_dict(orient="records"),
        "born_dead_after_training_test_acc": bd_after.reset_index().to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    write_summary(
        out,
        summary,
        {
            "A. Born-dead share (Wilson 95% CI) and mean dead fraction at init": bd,
            f"A. Dead fraction per layer at init, depth {deepest}": per_layer.unstack(
                "layer"
            ).reset_index(),
            "B. After training (mean ± 95% CI over seeds)": pm_table(
                tr, ["init", "depth", "width", "n", "born_dead"], metrics
            ),
            "B. Test accuracy of born-dead networks after training": bd_after.reset_index(),
        },
    )
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
