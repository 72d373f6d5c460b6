"""Study 1: the original depth study, then the learning-rate re-baselining it needed.

Circle and nested rings (4 rings), ReLU MLPs of depth 1, 2, 4, 6, 8 (width 16, He init, zero
biases), one logit with mean BCE, full-batch gradient descent, lr 0.05, 1000 steps, identical
settings and seeds for every depth (benchmark workload W1 on rings). Then a dense learning-rate
grid per depth: which rates are stable at which depth, and the depth comparison redone at each
depth's own best rate (chosen on the training loss, never on the test set).

    python experiments/01_original_depth_study/main.py            # full study
    python experiments/01_original_depth_study/main.py --quick    # smoke test
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

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

DATASETS = ("circle", "rings")
BASE = dict(
    n_train=1000,
    n_test=1000,
    width=16,
    activation="relu",
    init="he",
    loss="bce",
    optimizer="sgd",
    lr=0.05,
    epochs=1000,
    log_every=1,
    eval_every=50,
)
METRICS = (
    "final_train_acc",
    "final_test_acc",
    "final_train_loss",
    "grad_norm_mean",
    "grad_norm_std",
    "grad_norm_cv",
    "up_fraction",
    "tv_ratio",
)
KEYS = ("dataset", "depth", "lr", "seed")


def settings(quick: bool) -> dict:
    if quick:
        return dict(depths=[1, 4], seeds=2, epochs=60, lrs=[0.05, 0.4, 3.2], lr_seeds=1)
    # lr = 0.05 * 2^(k/2), k = -4..12: half-octave steps from 0.0125 to 3.2, through 0.05
    lrs = [float(f"{0.05 * 2 ** (k / 2):.6g}") for k in range(-4, 13)]
    return dict(depths=[1, 2, 4, 6, 8], seeds=50, epochs=1000, lrs=lrs, lr_seeds=5)


def fig_accuracy(table: pd.DataFrame, runs: pd.DataFrame, depths) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.8), sharey=False)
    for ax, ds in zip(axes, DATASETS, strict=True):
        t = table[table.dataset == ds]
        r = runs[runs.dataset == ds]
        rng = np.random.default_rng(0)
        for d in depths:
            acc = r.loc[r.depth == d, "final_test_acc"].to_numpy()
            x = np.log2(d) + rng.uniform(-0.08, 0.08, acc.size)
            ax.scatter(x, acc, s=5, color=depth_color(d), alpha=0.35, linewidths=0)
        x = np.log2(t.depth)
        ax.errorbar(
            x - 0.04,
            t.final_train_acc,
            t.final_train_acc_ci,
            fmt="s--",
            color="0.5",
            ms=3,
            lw=1,
            label="train (mean, 95% CI)",
        )
        ax.errorbar(
            x + 0.04,
            t.final_test_acc,
            t.final_test_acc_ci,
            fmt="o-",
            color="k",
            ms=3,
            lw=1,
            label="test (mean, 95% CI)",
        )
        ax.set_xticks(np.log2(depths), [str(d) for d in depths])
        ax.set_xlabel("hidden layers (depth)")
        ax.set_ylabel("final accuracy")
        ax.set_title(f"{ds}: final accuracy\n(dots: test accuracy of each seed)")
    axes[0].legend(loc="lower right")
    fig.tight_layout()
    return fig


def fig_curves(loss: dict, grad: dict, depths) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(7.2, 5.0), sharex=True)
    for j, ds in enumerate(DATASETS):
        for i, (bands, label) in enumerate(
            ((loss, "training loss (BCE)"), (grad, "total gradient norm"))
        ):
            ax = axes[i, j]
            for d in depths:
                if (ds, d) not in bands:
                    continue
                s, med, lo, hi = bands[(ds, d)]
                ax.plot(s, med, color=depth_color(d), lw=1.1, label=f"depth {d}")
                ax.fill_between(s, lo, hi, color=depth_color(d), alpha=0.18, lw=0)
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_ylabel(label)
            if i == 0:
                ax.set_title(f"{ds}: median over seeds, IQR band")
            else:
                ax.set_xlabel("step (full-batch GD, lr 0.05)")
    axes[0, 1].legend(ncols=1, loc="upper right")
    fig.tight_layout()
    return fig


def fig_stats(table: pd.DataFrame, depths) -> plt.Figure:
    cols = (
        ("grad_norm_mean", "mean |g| over training"),
        ("grad_norm_std", "std |g| over training"),
        ("grad_norm_cv", "CV = std / mean of |g|"),
        ("up_fraction", "share of steps the loss rose"),
        ("tv_ratio", "total variation / net drop of loss"),
    )
    fig, axes = plt.subplots(2, len(cols), figsize=(11.5, 4.4))
    for i, ds in enumerate(DATASETS):
        t = table[table.dataset == ds]
        for j, (m, label) in enumerate(cols):
            ax = axes[i, j]
            ax.errorbar(np.log2(t.depth), t[m], t[f"{m}_ci"], fmt="-", color="0.6", lw=1)
            for d in depths:
                row = t[t.depth == d]
                ax.errorbar(np.log2(d), row[m], row[f"{m}_ci"], fmt="o", color=depth_color(d))
            ax.set_xticks(np.log2(depths), [str(d) for d in depths])
            ax.set_title(f"{ds}: {label}", fontsize=8)
            if i == 1:
                ax.set_xlabel("depth")
    fig.suptitle(
        "Gradient-norm statistics and loss oscillation vs depth (mean and 95% CI over seeds)",
        fontsize=9.5,
    )
    fig.tight_layout()
    return fig


def lr_table(lr_runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, depth, lr): shares of diverged and collapsed seeds, test accuracy
    (diverged = chance 0.5), final train loss (diverged = +inf for ranking) and the share of
    rising steps.

    *Collapsed* is the package's run metric (:mod:`fastdepth.metrics`): finite, but every
    training input gets the same output (a large step left a whole layer dead). *Failed* =
    diverged or collapsed.
    """
    r = lr_runs.copy()
    r["failed"] = r.diverged | r.collapsed
    r["test_acc_or_chance"] = np.where(r.diverged, 0.5, r.final_test_acc)
    r["train_loss_or_inf"] = np.where(r.diverged, np.inf, r.final_train_loss)
    g = r.groupby(["dataset", "depth", "lr"])
    return g.agg(
        n=("seed", "size"),
        diverged_frac=("diverged", "mean"),
        collapsed_frac=("collapsed", "mean"),
        failed_frac=("failed", "mean"),
        test_acc=("test_acc_or_chance", "mean"),
        train_loss=("train_loss_or_inf", "mean"),
        up_fraction=("up_fraction", "mean"),
    ).reset_index()


def best_lrs(lt: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, depth): the smallest lr at which some seed failed (diverged or collapsed),
    the largest lr below it (*max stable*: no seed failed there or at any smaller rate), and
    the lr with the lowest mean final training loss (the re-baselined rate; the test set
    plays no part in choosing it)."""
    rows = []
    for (ds, d), g in lt.groupby(["dataset", "depth"]):
        g = g.sort_values("lr")
        first_fail = g[g.failed_frac > 0].lr.min()
        stable = g[g.lr < first_fail] if np.isfinite(first_fail) else g
        best = g.loc[g.train_loss.idxmin()]
        rows.append(
            dict(
                dataset=ds,
                depth=d,
                max_stable_lr=stable.lr.max() if len(stable) else np.nan,
                min_failing_lr=first_fail,
                min_diverging_lr=g[g.diverged_frac > 0].lr.min(),
                best_lr=best.lr,
                best_train_loss=best.train_loss,
                test_acc_at_best=best.test_acc,
                test_acc_at_0_05=g.loc[np.isclose(g.lr, 0.05), "test_acc"].mean(),
            )
        )
    return pd.DataFrame(rows)


def fig_lr(lt: pd.DataFrame, best: pd.DataFrame, depths, lrs) -> plt.Figure:
    panels = (
        ("test_acc", "mean test accuracy (diverged = 0.5)", "viridis", (0.5, 1.0)),
        ("up_fraction", "share of steps the loss rose", "cividis", (0.0, 0.5)),
    )
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 5.2))
    for j, ds in enumerate(DATASETS):
        for i, (m, label, cmap, (vmin, vmax)) in enumerate(panels):
            ax = axes[i, j]
            t = lt[lt.dataset == ds].pivot(index="depth", columns="lr", values=m)
            div = lt[lt.dataset == ds].pivot(index="depth", columns="lr", values="failed_frac")
            t = t.reindex(index=depths, columns=lrs)
            div = div.reindex(index=depths, columns=lrs)
            im = ax.imshow(
                t.to_numpy(), aspect="auto", origin="lower", cmap=cmap, vmin=vmin, vmax=vmax
            )
            for (a, b), v in np.ndenumerate(div.to_numpy()):
                if v > 0:  # failed seeds: hatched cell with the share printed
                    ax.add_patch(
                        plt.Rectangle(
                            (b - 0.5, a - 0.5), 1, 1, fill=False, hatch="///", ec="w", lw=0
                        )
                    )
                    ax.text(b, a, f"{v:.0%}", ha="center", va="center", fontsize=5.5, color="w")
            bd = best[best.dataset == ds].set_index("depth").reindex(depths)
            xb = [lrs.index(v) if v in lrs else np.nan for v in bd.best_lr]
            ax.plot(xb, range(len(depths)), "w*", ms=7, mec="k", mew=0.5, label="lowest train loss")
            ax.axvline(lrs.index(0.05) if 0.05 in lrs else np.nan, color="w", ls=":", lw=1)
            ax.set_yticks(range(len(depths)), [str(d) for d in depths])
            step = max(1, len(lrs) // 9)
            ax.set_xticks(
                range(0, len(lrs), step), [f"{v:.3g}" for v in lrs[::step]], rotation=45, fontsize=7
            )
            ax.set_ylabel("depth")
            ax.set_title(f"{ds}: {label}", fontsize=8.5)
            ax.grid(False)
            fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
            if i == 1:
                ax.set_xlabel("learning rate (dotted: 0.05 of the original study)")
    axes[0, 0].legend(loc="upper left", fontsize=7, framealpha=0.6, frameon=True)
    fig.suptitle(
        "Learning-rate grid per depth (hatched: share of seeds that diverged or collapsed "
        "to a constant output)",
        fontsize=9.5,
    )
    fig.tight_layout()
    return fig


def fig_rebaselined(best: pd.DataFrame, depths) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.8))
    for k, ds in enumerate(DATASETS):
        b = best[best.dataset == ds]
        x = np.log2(b.depth)
        axes[0].plot(
            x,
            b.test_acc_at_0_05,
            "o--",
            color=OKABE_ITO[k],
            mfc="w",
            label=f"{ds}, lr 0.05 for all",
        )
        axes[0].plot(
            x, b.test_acc_at_best, "o-", color=OKABE_ITO[k], label=f"{ds}, best lr per depth"
        )
        axes[1].plot(x, b.max_stable_lr, "o-", color=OKABE_ITO[k], label=f"{ds}: largest stable lr")
        axes[1].plot(x, b.best_lr, "*--", color=OKABE_ITO[k], ms=7, label=f"{ds}: best lr")
    for ax in axes:
        ax.set_xticks(np.log2(depths), [str(d) for d in depths])
        ax.set_xlabel("depth")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("mean test accuracy")
    axes[0].set_title("Depth comparison, fixed vs re-baselined lr")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("learning rate")
    axes[1].set_title("Stable and best learning rates vs depth")
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()
    depths, lrs = cfg["depths"], cfg["lrs"]
    base = {**BASE, "epochs": cfg["epochs"]}

    # --- part 1: the original study, every depth at lr 0.05, identical seeds
    grid = fd.Grid(
        {"dataset": list(DATASETS), "depth": depths, "seed": range(cfg["seeds"])}, base=base
    )
    res = fd.train_many(grid, threads=args.threads)
    clock.lap(f"depth study: {len(grid)} runs")
    runs = runs_frame(res, KEYS)
    runs.to_csv(out / "runs_depth.csv", index=False, float_format="%.6g")
    by = ("dataset", "depth")
    loss, grad = curve_bands(res, "loss", by), curve_bands(res, "grad_norm", by)
    del res
    table = ci_table(runs, ["dataset", "depth"], METRICS, count=["diverged", "collapsed"])
    save(fig_accuracy(table, runs, depths), out, "fig_accuracy_vs_depth")
    save(fig_curves(loss, grad, depths), out, "fig_loss_and_gradnorm_curves")
    save(fig_stats(table, depths), out, "fig_gradstats_oscillation_vs_depth")

    # --- part 2: learning-rate re-baselining
    lgrid = fd.Grid(
        {"dataset": list(DATASETS), "depth": depths, "lr": lrs, "seed": range(cfg["lr_seeds"])},
        base={**base, "log_every": 5},
    )
    lres = fd.train_many(lgrid, threads=args.threads)
    clock.lap(f"lr grid: {len(lgrid)} runs")
    lr_runs = runs_frame(lres, KEYS)
    del lres
    lr_runs.to_csv(out / "runs_lr_grid.csv", index=False, float_format="%.6g")
    lt = lr_table(lr_runs)
    best = best_lrs(lt)
    save(fig_lr(lt, best, depths, lrs), out, "fig_lr_grid")
    save(fig_rebaselined(best, depths), out, "fig_lr_rebaselined")
    clock.lap("figures")

    show = ["dataset", "depth", "n", "diverged", "collapsed"]
    for m in METRICS:
        show += [m, f"{m}_ci"]
    readable = pm_table(table, ["dataset", "depth", "n", "diverged", "collapsed"], METRICS)
    summary = {
        "study": "01 original depth study",
        "quick": args.quick,
        "setup": {
            **base,
            "datasets": DATASETS,
            "depths": depths,
            "seeds": cfg["seeds"],
            "lr_grid": lrs,
            "lr_seeds": cfg["lr_seeds"],
            "lr_grid_log_every": 5,
        },
        "depth_study": table[show].to_dict(orient="records"),
        "lr_grid_per_depth": best.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    write_summary(
        out,
        summary,
        {
            "Depth study (lr 0.05): mean ± 95% CI over seeds": readable,
            "Learning-rate grid: stable and best rates per depth": best,
            "Learning-rate grid: every cell": lt,
        },
    )
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
