"""Study 8: the mean-field view of deep tanh networks (Poole et al. 2016; Schoenholz et al. 2017).

Tanh networks with weights W ~ N(0, sigma_w^2 / fan_in) and biases b ~ N(0, sigma_b^2)
(``init='meanfield'``), sigma_b^2 = 0.05 throughout.

Part A (initialisation only): the per-layer growth factor of the back-propagated signal
||dL/dz_k|| against sigma_w^2, measured at widths 16 and 64 and compared with the mean-field
prediction sqrt(chi_1), chi_1 = sigma_w^2 E[tanh'(sqrt(q*) z)^2] at the fixed point q* of the
length map. chi_1 = 1 is the edge of chaos. The theory is ``fastdepth.theory`` (q*, chi_1,
c*, xi_c and the critical sigma_w^2, by quadrature).

Part B (training): a trainability map over (sigma_w^2, depth): final training accuracy on the
circle data after a fixed budget of full-batch SGD with momentum, with the theory's trainable
depth 6 xi_c drawn on top (xi_c = -1 / ln chi_c, the correlation depth scale).

    python experiments/08_mean_field/main.py            # full study
    python experiments/08_mean_field/main.py --quick    # smoke test
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
    out_dir,
    parse_args,
    plt,
    save,
    write_summary,
)

import fastdepth as fd  # noqa: E402
from fastdepth import theory  # noqa: E402

SB2 = 0.05
ACT = "tanh"
BASE = dict(dataset="circle", activation=ACT, init="meanfield", sigma_b2=SB2, loss="bce")
TRAIN = dict(
    n_train=300,
    n_test=300,
    width=32,
    optimizer="momentum",
    momentum=0.9,
    lr=0.01,
    log_every=10,
    eval_every=100,
)
SW2_LABEL = rf"$\sigma_w^2$  ($\sigma_b^2$ = {SB2:g})"
FIT_SKIP = 4  # layers next to the input / output left out of the slope fit (transients)

# ---------------------------------------------------------------- experiment


def settings(quick: bool) -> dict:
    if quick:
        return dict(
            sw2=[1.0, 2.0],
            a_depth=12,
            a_widths=[16],
            a_seeds=2,
            b_sw2=[1.0, 2.0],
            b_depths=[4, 8],
            b_seeds=1,
            epochs=50,
            n_fine=12,
        )
    return dict(
        sw2=[round(v, 3) for v in np.linspace(0.5, 4.0, 15)],
        a_depth=40,
        a_widths=[16, 64],
        a_seeds=20,
        b_sw2=[0.6, 1.0, 1.4, 1.8, 2.2, 3.0, 4.0],
        b_depths=[4, 8, 16, 32, 64],
        b_seeds=2,
        epochs=1000,
        n_fine=80,
    )


def slope_table(results, depth: int) -> pd.DataFrame:
    """Measured growth of ||dL/dz_k|| per layer *going backward* (output towards input):
    exp(-slope) of the least-squares line of log ||dL/dz_k|| against k over hidden layers
    FIT_SKIP+1 .. depth-FIT_SKIP (k counts from the input side)."""
    rows = []
    k = np.arange(FIT_SKIP, depth - FIT_SKIP)
    for r in results:
        s = np.asarray(r.init["signal_norm"][:depth])
        ok = np.all(s[k] > 0) and np.all(np.isfinite(s[k]))
        slope = np.polyfit(k, np.log(s[k]), 1)[0] if ok else np.nan
        rows.append(
            dict(
                sigma_w2=r.config.sigma_w2,
                width=r.config.width,
                seed=r.config.seed,
                growth=np.exp(-slope),
            )
        )
    df = pd.DataFrame(rows)
    g = df.groupby(["sigma_w2", "width"]).growth
    t = g.agg(lambda v: float(np.exp(np.nanmean(np.log(v))))).rename("growth_geomean")
    t = pd.concat([t, g.quantile(0.1).rename("q10"), g.quantile(0.9).rename("q90")], axis=1)
    t = t.reset_index()
    t["theory_sqrt_chi1"] = [np.sqrt(theory.chi_1(ACT, v, SB2)) for v in t.sigma_w2]
    return t


def fig_growth(table: pd.DataFrame, profiles: dict, widths, sw2_show) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(8.8, 3.2))
    ax = axes[0]
    grid = np.linspace(min(table.sigma_w2), max(table.sigma_w2), 200)
    ax.plot(
        grid,
        [np.sqrt(theory.chi_1(ACT, v, SB2)) for v in grid],
        "k-",
        lw=1,
        label=r"mean field $\sqrt{\chi_1}$",
    )
    for j, w in enumerate(widths):
        t = table[table.width == w]
        ax.errorbar(
            t.sigma_w2 + 0.03 * j,
            t.growth_geomean,
            [t.growth_geomean - t.q10, t.q90 - t.growth_geomean],
            fmt="o",
            color=OKABE_ITO[j],
            ms=3,
            label=f"measured, width {w} (10-90%)",
        )
    ax.axhline(1, color="0.5", lw=0.7, ls=":")
    ax.set_xlabel(SW2_LABEL)
    ax.set_ylabel(r"per-layer growth of $\|\partial L/\partial z_k\|$")
    ax.set_title("Backward signal growth per layer at init")
    ax.legend(fontsize=7)
    ax = axes[1]
    cmap = plt.get_cmap("cividis")
    for i, v in enumerate(sw2_show):
        if v not in profiles:
            continue
        s = profiles[v]
        ax.plot(
            np.arange(1, s.size + 1),
            s / s[-1],
            color=cmap(i / max(1, len(sw2_show) - 1)),
            label=f"{v:g}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("hidden layer k (1 = input side)")
    ax.set_ylabel(r"median $\|\partial L/\partial z_k\|$ / last layer")
    ax.set_title(f"Signal profile, width {max(widths)}")
    ax.legend(title=r"$\sigma_w^2$", fontsize=6.5, ncols=2)
    fig.tight_layout()
    return fig


def fig_map(tm: pd.DataFrame, sw2s, depths, n_fine: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    m = tm.pivot(index="depth", columns="sigma_w2", values="train_acc").reindex(
        index=depths, columns=sw2s
    )
    im = ax.imshow(
        m.to_numpy(),
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=0.5,
        vmax=1.0,
        extent=(-0.5, len(sw2s) - 0.5, -0.5, len(depths) - 0.5),
    )
    for (a, b), v in np.ndenumerate(m.to_numpy()):
        ax.text(
            b, a, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v < 0.8 else "k"
        )
    # 6 xi_c on the same axes: depth index is log2-spaced, sigma index is categorical
    fine = np.linspace(min(sw2s), max(sw2s), n_fine)
    xi6 = np.array([6 * theory.xi_c(ACT, v, SB2) for v in fine])
    xpos = np.interp(fine, sw2s, np.arange(len(sw2s)))
    ypos = np.interp(
        np.log2(np.clip(xi6, 1, 2**12)),
        np.log2(depths),
        np.arange(len(depths)),
        left=-0.5 - 1e-9,
        right=np.inf,
    )
    ax.plot(
        xpos,
        np.clip(ypos, -0.5, len(depths) - 0.5),
        "w--",
        lw=1.5,
        label=r"$6\,\xi_c$ (mean field)",
    )
    ax.set_xticks(range(len(sw2s)), [f"{v:g}" for v in sw2s])
    ax.set_yticks(range(len(depths)), [str(d) for d in depths])
    ax.set_xlabel(SW2_LABEL)
    ax.set_ylabel("hidden layers")
    ax.set_title("Final training accuracy (mean over seeds)")
    ax.grid(False)
    ax.legend(loc="lower right", fontsize=7, frameon=True, framealpha=0.8)
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()

    # --- part A: signal growth at init
    depth = cfg["a_depth"]
    grid = fd.Grid(
        {"sigma_w2": cfg["sw2"], "width": cfg["a_widths"], "seed": range(cfg["a_seeds"])},
        base={**BASE, "n_train": 500, "n_test": 10, "depth": depth, "epochs": 1},
    )
    res = fd.train_many(grid, threads=args.threads)
    clock.lap(f"init telemetry: {len(grid)} runs")
    growth = slope_table(res, depth)
    wmax = max(cfg["a_widths"])
    profiles = {}
    for v in cfg["sw2"]:
        s = [
            r.init["signal_norm"][:depth]
            for r in res
            if r.config.sigma_w2 == v and r.config.width == wmax
        ]
        profiles[v] = np.median(np.array(s), axis=0)
    del res
    show = cfg["sw2"][:: max(1, len(cfg["sw2"]) // 7)]
    save(fig_growth(growth, profiles, cfg["a_widths"], show), out, "fig_signal_growth_at_init")

    # --- part B: trainability map
    tgrid = fd.Grid(
        {"sigma_w2": cfg["b_sw2"], "depth": cfg["b_depths"], "seed": range(cfg["b_seeds"])},
        base={**BASE, **TRAIN, "epochs": cfg["epochs"]},
    )
    tres = fd.train_many(tgrid, threads=args.threads)
    clock.lap(f"trainability: {len(tgrid)} runs")
    rows = [
        dict(
            sigma_w2=r.config.sigma_w2,
            depth=r.config.depth,
            seed=r.config.seed,
            diverged=r.diverged,
            train_acc=0.5 if r.diverged else r.summary["final_train_acc"],
            test_acc=0.5 if r.diverged else r.summary["final_test_acc"],
        )
        for r in tres
    ]
    del tres
    runs = pd.DataFrame(rows)
    tm = (
        runs.groupby(["sigma_w2", "depth"])
        .agg(
            train_acc=("train_acc", "mean"),
            test_acc=("test_acc", "mean"),
            diverged=("diverged", "sum"),
            n=("seed", "size"),
        )
        .reset_index()
    )
    save(fig_map(tm, cfg["b_sw2"], cfg["b_depths"], cfg["n_fine"]), out, "fig_trainability_map")
    clock.lap("figures")

    mf = [theory.mean_field(ACT, v, SB2) for v in sorted(set(cfg["sw2"]) | set(cfg["b_sw2"]))]
    theory_table = pd.DataFrame(
        [
            dict(
                sigma_w2=m.sigma_w2,
                q_star=m.q_star,
                chi_1=m.chi_1,
                c_star=m.c_star,
                xi_c=m.xi_c,
                six_xi_c=6 * m.xi_c,
            )
            for m in mf
        ]
    )
    critical = theory.critical_sigma_w2(ACT, SB2)
    summary = {
        "study": "08 mean-field view",
        "quick": args.quick,
        "setup": {
            **BASE,
            "part_a": dict(
                depth=depth,
                n_train=500,
                **{k: cfg[k] for k in ("sw2", "a_widths", "a_seeds")},
                fit_skip=FIT_SKIP,
            ),
            "part_b": {
                **TRAIN,
                "epochs": cfg["epochs"],
                "sw2": cfg["b_sw2"],
                "depths": cfg["b_depths"],
                "seeds": cfg["b_seeds"],
            },
        },
        "critical_sigma_w2": round(critical, 4),
        "growth": growth.to_dict(orient="records"),
        "trainability": tm.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    write_summary(
        out,
        summary,
        {
            "Mean-field theory (tanh, sigma_b^2 = 0.05)": theory_table,
            "A. Per-layer growth of the backward signal at init (geometric mean, seeds)": growth,
            "B. Trainability: final accuracy, mean over seeds (diverged = 0.5)": tm,
        },
    )
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
