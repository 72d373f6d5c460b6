"""Study 7: depth against width at an equal parameter budget, and counting linear regions.

Part A: shallow-wide against deep-narrow ReLU networks with (nearly) the same number of
parameters, on XOR, two spirals and the composed 1-D regression target sin(sin(sin(x)))
(MSE loss). Depths 1, 2, 4, 8; for each depth the width is the largest whose parameter count does
not exceed the budget; two budgets. Adam lr 0.005, full batch, 3000 epochs, He init.

Part B: the number of linear regions of ReLU networks over a 2-D input box, counted as distinct
activation patterns (signs of every hidden pre-activation) on a 400 x 400 grid
(``fastdepth.analysis.grid_regions``), and exactly along the box's diagonal
(``fastdepth.analysis.segment_regions``), at initialisation and after training on the spirals,
against depth and width. A grid count is a lower bound (a region no grid point falls in is
missed); how far it is from converged is measured on the largest nets at 200 ... 2000 points
per axis. With zero biases a ReLU network is positively homogeneous, so all its regions are
cones through the origin; the count is therefore also made with random biases (``meanfield``:
weights N(0, 2 / fan_in) as He, biases N(0, 0.05)).

    python experiments/07_depth_vs_width/main.py            # full study
    python experiments/07_depth_vs_width/main.py --quick    # smoke test
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
    depth_color,
    out_dir,
    parse_args,
    plt,
    pm_table,
    save,
    write_summary,
)

import fastdepth as fd  # noqa: E402
from fastdepth import datasets  # noqa: E402
from fastdepth.analysis import (  # noqa: E402
    Network,
    grid_regions,
    n_params,
    segment_regions,
    width_for,
)
from fastdepth.analysis.figures import region_maps  # noqa: E402

TRAIN = dict(
    n_train=500,
    n_test=500,
    activation="relu",
    optimizer="adam",
    lr=0.005,
    log_every=10,
    eval_every=100,
)
TASKS = (
    ("xor", "bce", {}),
    ("spirals", "bce", {}),
    ("regression1d", "mse", {"target": "sinsinsin"}),
)
INITS = (("he", None, None), ("meanfield", 2.0, 0.05))
INIT_LABEL = {"he": "He, zero biases", "meanfield": "He weights, biases N(0, 0.05)"}


def settings(quick: bool) -> dict:
    if quick:
        return dict(
            budgets=[250],
            depths=[1, 4],
            seeds=1,
            epochs=100,
            r_depths=[1, 4],
            r_widths=[8],
            r_seeds=1,
            r_epochs=50,
            grid=60,
            convergence=(30, 60),
        )
    return dict(
        budgets=[250, 1000],
        depths=[1, 2, 4, 8],
        seeds=6,
        epochs=3000,
        r_depths=[1, 2, 4, 8],
        r_widths=[8, 16, 32],
        r_seeds=3,
        r_epochs=2000,
        grid=400,
        convergence=CONVERGENCE,
    )


CONVERGENCE = (200, 400, 1000, 2000)  # grid resolutions of the convergence check


def fig_budget(runs: pd.DataFrame, budgets, depths) -> plt.Figure:
    """Per-seed dots and the median (line) of the test metric against depth, per budget."""
    fig, axes = plt.subplots(1, len(TASKS), figsize=(3.4 * len(TASKS), 3.0))
    rng = np.random.default_rng(0)
    for ax, (ds, loss, params) in zip(axes, TASKS, strict=True):
        m = "final_test_acc" if loss == "bce" else "final_test_loss"
        for j, b in enumerate(budgets):
            r = runs[(runs.dataset == ds) & (runs.budget == b)]
            off = (j - (len(budgets) - 1) / 2) * 0.12
            x = np.log2(r.depth) + off + rng.uniform(-0.04, 0.04, len(r))
            ax.scatter(x, r[m], s=7, color=OKABE_ITO[j], alpha=0.5, linewidths=0)
            med = r.groupby(["depth", "width"])[m].median().reset_index()
            ax.plot(
                np.log2(med.depth) + off,
                med[m],
                "o-",
                color=OKABE_ITO[j],
                ms=3,
                label=f"budget {b}",
            )
            for _, row in med.iterrows():
                ax.annotate(
                    f"w{int(row.width)}",
                    (np.log2(row.depth) + off, row[m]),
                    fontsize=6,
                    xytext=(3, 4 if j else -9),
                    textcoords="offset points",
                )
        if loss == "mse":
            noise, _ = datasets.resolve_params(ds, None, **params)
            ax.axhline(noise**2, color="0.4", ls=":", lw=1, label=f"noise floor {noise**2:g}")
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        ax.set_xticks(np.log2(depths), [str(d) for d in depths])
        ax.set_xlabel("hidden layers (width shrinks to keep the budget)")
        ax.set_ylabel("test accuracy" if loss == "bce" else "test MSE")
        ax.set_title(ds if loss == "bce" else "regression1d: sin(sin(sin x))")
    axes[0].legend(fontsize=7)
    fig.suptitle(
        "Equal parameter budget: shallow-wide vs deep-narrow "
        "(dots: seeds, line: median; w = width)",
        fontsize=9.5,
    )
    fig.tight_layout()
    return fig


def fig_regions(rt: pd.DataFrame, depths, widths) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2), sharey=True)
    for ax, (init, _, _) in zip(axes, INITS, strict=True):
        for j, w in enumerate(widths):
            t = rt[(rt.init == init) & (rt.width == w)].sort_values("depth")
            x = np.log2(t.depth)
            ax.plot(x, t.regions_init, "o--", color=OKABE_ITO[j], mfc="w", label=f"w{w} init")
            ax.plot(x, t.regions_end, "o-", color=OKABE_ITO[j], label=f"w{w} trained")
        ax.set_yscale("log")
        ax.set_xticks(np.log2(depths), [str(d) for d in depths])
        ax.set_xlabel("hidden layers")
        ax.set_title(INIT_LABEL[init], fontsize=8.5)
    axes[0].set_ylabel("linear regions on the grid (mean over seeds)")
    axes[1].legend(fontsize=6.5, ncols=2)
    fig.suptitle(
        "Linear regions over the spirals box: hollow = init, filled = after training", fontsize=9.5
    )
    fig.tight_layout()
    return fig


def fig_regions_vs_neurons(rr: pd.DataFrame) -> plt.Figure:
    """Top: grid counts in the box against N (with N^2); bottom: exact counts along the
    diagonal (with N)."""
    fig, axes = plt.subplots(2, 2, figsize=(8.4, 5.8), sharey="row", sharex=True)
    n = np.array(sorted(rr.neurons.unique()), dtype=float)
    for row, (pre, power, what) in enumerate(
        (("regions", 2, "linear regions on the 400 x 400 grid"),
         ("line", 1, "regions along the diagonal (exact)"))
    ):  # fmt: skip
        for ax, (init, _, _) in zip(axes[row], INITS, strict=True):
            for d in sorted(rr.depth.unique()):
                t = rr[(rr.init == init) & (rr.depth == d)]
                ax.scatter(t.neurons, t[f"{pre}_init"], s=14, facecolors="none",
                           edgecolors=depth_color(d))  # fmt: skip
                ax.scatter(t.neurons, t[f"{pre}_end"], s=14, color=depth_color(d),
                           label=f"depth {d}")  # fmt: skip
            t = rr[rr.init == init]
            c = np.exp(np.mean(np.log(t[f"{pre}_end"]) - power * np.log(t.neurons)))
            ax.plot(n, c * n**power, "k:", lw=1, label=rf"$\propto N^{power}$")
            ax.set_xscale("log")
            ax.set_yscale("log")
            if row == 0:
                ax.set_title(INIT_LABEL[init], fontsize=8.5)
            else:
                ax.set_xlabel("hidden neurons N (depth x width)")
        axes[row, 0].set_ylabel(what, fontsize=8)
        axes[row, 1].legend(fontsize=6.5)
    fig.suptitle(
        "Regions against the number of neurons (hollow: init, filled: trained)", fontsize=9.5
    )
    fig.tight_layout()
    return fig


def fig_region_maps(examples, box: np.ndarray, n: int):
    """Region maps of the example nets (columns) at init and trained (rows), with the exact
    breakpoints along the diagonal on top."""
    maps, segs, titles = [], [], []
    for which in ("initial", "final"):
        for r in examples:
            net = Network.from_run(r, which)
            maps.append(grid_regions(net, box, n))
            segs.append(segment_regions(net, box[:, 0], box[:, 1]))
            c = r.config
            titles.append(
                f"depth {c.depth}, width {c.width}, {'init' if which == 'initial' else 'trained'}"
                f"\n{maps[-1].count} regions, {segs[-1].count} on the diagonal"
            )
    return region_maps(
        maps,
        segments=segs,
        titles=titles,
        ncols=len(examples),
        suptitle=f"Linear regions: a random colour per activation\npattern on a {n} x {n} grid, "
        "dots: exact\nbreakpoints on the diagonal; 32 neurons each,\nbiases N(0, 0.05)",
        panel=2.8,
    )


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()

    # --- part A: equal parameter budgets
    runs = []
    for ds, loss, params in TASKS:
        n_in = datasets.DATASETS[ds].n_in
        for b in cfg["budgets"]:
            for d in cfg["depths"]:
                w = width_for(n_in, d, b)
                base = {
                    **TRAIN,
                    "dataset": ds,
                    "loss": loss,
                    "dataset_params": params,
                    "depth": d,
                    "width": w,
                    "epochs": cfg["epochs"],
                }
                runs += [(b, c) for c in fd.Grid({"seed": range(cfg["seeds"])}, base=base)]
    res = fd.train_many([c for _, c in runs], threads=args.threads)
    clock.lap(f"equal budgets: {len(runs)} runs")
    rows = []
    for (b, c), r in zip(runs, res, strict=True):
        s = r.summary
        rows.append(
            dict(
                dataset=c.dataset,
                budget=b,
                depth=c.depth,
                width=c.width,
                params=n_params(c.n_in, c.hidden_widths),
                seed=c.seed,
                diverged=s["diverged"],
                final_train_acc=s["final_train_acc"],
                final_test_acc=s["final_test_acc"],
                final_train_loss=s["final_train_loss"],
                final_test_loss=s["final_test_loss"],
            )
        )
    del res
    ar = pd.DataFrame(rows)
    ar.to_csv(out / "runs_budget.csv", index=False, float_format="%.6g")
    metrics = ["final_train_acc", "final_test_acc", "final_train_loss", "final_test_loss"]
    at = ci_table(ar, ["dataset", "budget", "depth", "width", "params"], metrics, count="diverged")
    save(fig_budget(ar, cfg["budgets"], cfg["depths"]), out, "fig_equal_budget")

    # --- part B: linear regions at init and after training on spirals
    rgrid = fd.Grid(
        {
            "init": [i for i, _, _ in INITS],
            "sigma_w2": [s for _, s, _ in INITS],
            "sigma_b2": [b for _, _, b in INITS],
            "depth": cfg["r_depths"],
            "width": cfg["r_widths"],
            "seed": range(cfg["r_seeds"]),
        },
        base={**TRAIN, "dataset": "spirals", "loss": "bce", "epochs": cfg["r_epochs"]},
        zip=[("init", "sigma_w2", "sigma_b2")],
    )
    rres = fd.train_many(rgrid, threads=args.threads)
    clock.lap(f"region nets: {len(rgrid)} runs")
    box = datasets.bounding_box("spirals")
    lo, hi = box[:, 0], box[:, 1]  # the diagonal, counted exactly
    rrows = []
    for r in rres:
        c = r.config
        init, end = Network.from_run(r, "initial"), Network.from_run(r, "final")
        rrows.append(
            dict(
                init=c.init,
                depth=c.depth,
                width=c.width,
                seed=c.seed,
                neurons=c.depth * c.width,
                regions_init=grid_regions(init, box, cfg["grid"]).count,
                regions_end=grid_regions(end, box, cfg["grid"]).count,
                line_init=segment_regions(init, lo, hi).count,
                line_end=segment_regions(end, lo, hi).count,
                final_train_acc=r.summary["final_train_acc"],
            )
        )
    rr = pd.DataFrame(rrows)
    rr.to_csv(out / "runs_regions.csv", index=False, float_format="%.6g")
    fits = []
    for init, t in rr.groupby("init"):
        for col in ("regions_init", "regions_end", "line_init", "line_end"):
            slope = round(np.polyfit(np.log(t.neurons), np.log(t[col]), 1)[0], 12) + 0.0
            fits.append(dict(init=init, counted=col, slope_log_regions_vs_log_neurons=slope))
    fits = pd.DataFrame(fits)
    rt = (
        rr.groupby(["init", "depth", "width", "neurons"])
        .agg(
            regions_init=("regions_init", "mean"),
            regions_end=("regions_end", "mean"),
            line_init=("line_init", "mean"),
            line_end=("line_end", "mean"),
            train_acc=("final_train_acc", "mean"),
            n=("seed", "size"),
        )
        .reset_index()
    )
    # same 32 neurons (or the nearest), shallow vs deep, random biases, first seed
    wmax = max(cfg["r_widths"])
    same = [(d, w) for d in cfg["r_depths"] for w in cfg["r_widths"] if d > 1 and d * w == wmax]
    pick = [(1, wmax), max(same) if same else (max(cfg["r_depths"]), min(cfg["r_widths"]))]
    examples = [
        r
        for d, w in pick
        for r in rres
        if r.config.init == "meanfield"
        and r.config.depth == d
        and r.config.width == w
        and r.config.seed == 0
    ]
    # how far the grid count is from converged: the largest deep and shallow nets, seed 0
    conv = []
    for r in rres:
        c = r.config
        if c.seed == 0 and c.width == wmax and c.depth in (1, max(cfg["r_depths"])):
            for which in ("initial", "final"):
                net = Network.from_run(r, which)
                row = dict(init=c.init, depth=c.depth, width=c.width, when=which)
                for n in cfg["convergence"]:
                    row[f"grid_{n}"] = grid_regions(net, box, n).count
                conv.append(row)
    conv = pd.DataFrame(conv)
    del rres
    clock.lap("region counts")
    save(fig_regions(rt, cfg["r_depths"], cfg["r_widths"]), out, "fig_linear_regions")
    save(fig_regions_vs_neurons(rr), out, "fig_regions_vs_neurons")
    save(fig_region_maps(examples, box, min(cfg["grid"], 300)), out, "fig_region_maps")
    clock.lap("figures")

    summary = {
        "study": "07 depth vs width",
        "quick": args.quick,
        "setup": {**TRAIN, "tasks": TASKS, "inits_for_regions": INITS, **cfg},
        "equal_budget": at.to_dict(orient="records"),
        "linear_regions": rt.to_dict(orient="records"),
        "regions_power_law": fits.to_dict(orient="records"),
        "grid_convergence": conv.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    write_summary(
        out,
        summary,
        {
            "A. Equal parameter budget (mean ± 95% CI over seeds)": pm_table(
                at, ["dataset", "budget", "depth", "width", "params", "n", "diverged"], metrics
            ),
            "B. Linear regions on the grid (mean over seeds)": rt,
            "B. Power law: slope of log(regions) against log(hidden neurons), all runs": fits,
            "B. Grid count against resolution (seed 0, biggest nets)": conv,
        },
    )
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
