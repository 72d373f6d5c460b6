"""Study 3: vanishing gradients at initialisation, sigmoid + Xavier against ReLU + Kaiming.

Two-spirals data (1000 points), width 20, depths 4, 8, 16, 32, zero biases, mean BCE on one
logit. Only the initialisation telemetry is used (``epochs=1``): per-layer Frobenius norm of the
weight gradient ``||dL/dW_k||`` and of the back-propagated signal ``||dL/dz_k||`` on the full
training set, over many seeds. The sigmoid derivative bound (``sigma' <= 1/4``, so at most a
factor 1/4 per layer from the activation alone) is drawn beside the measured decay.

    python experiments/03_vanishing_gradients/main.py            # full study
    python experiments/03_vanishing_gradients/main.py --quick    # smoke test
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Clock, depth_color, out_dir, parse_args, plt, save, write_summary  # noqa: E402

import fastdepth as fd  # noqa: E402

SCHEMES = (("sigmoid", "xavier"), ("relu", "he"))
LABEL = {"sigmoid": "sigmoid + Xavier", "relu": "ReLU + Kaiming (He)"}
BASE = dict(dataset="spirals", n_train=1000, n_test=100, width=20, loss="bce", epochs=1)


def settings(quick: bool) -> dict:
    if quick:
        return dict(depths=[4, 8], seeds=5)
    return dict(depths=[4, 8, 16, 32], seeds=500)


def collect(results) -> pd.DataFrame:
    """Long table: one row per (run, layer) with the init gradient and signal norms.

    ``layer`` counts weight layers from the input, 1-based; ``layer = depth + 1`` is the
    output layer.
    """
    rows = []
    for r in results:
        c = r.config
        g, s = r.init["grad_norm"], r.init["signal_norm"]
        for k in range(len(g)):
            rows.append((c.activation, c.depth, c.seed, k + 1, g[k], s[k]))
    cols = ["activation", "depth", "seed", "layer", "grad_norm", "signal_norm"]
    return pd.DataFrame(rows, columns=cols)


def decay_table(long: pd.DataFrame) -> pd.DataFrame:
    """Per (activation, depth): the per-layer decay of the signal through the hidden layers.

    ``factor`` = geometric mean over seeds of (||dL/dz_1|| / ||dL/dz_L||)^(1 / (L - 1)), the
    average shrink per hidden layer from the last hidden layer L down to the first;
    ``ratio`` = median of ||dL/dz_1|| / ||dL/dz_L|| (first vs last hidden layer, both of
    width 20), with its 5% and 95% quantiles over seeds. (The weight gradient of layer 1 is
    not compared: its fan-in is the 2-D input, so its norm differs by a shape factor.)
    """
    rows = []
    for (act, d), g in long.groupby(["activation", "depth"]):
        first = g[g.layer == 1].set_index("seed")
        last = g[g.layer == d].set_index("seed")
        rs = first.signal_norm / last.signal_norm
        ok = (rs > 0) & np.isfinite(rs)
        rows.append(
            dict(
                activation=act,
                depth=d,
                n=len(rs),
                factor_per_layer=float(np.exp(np.mean(np.log(rs[ok])) / (d - 1))),
                ratio_median=float(np.median(rs)),
                ratio_q05=float(np.quantile(rs, 0.05)),
                ratio_q95=float(np.quantile(rs, 0.95)),
                bound_quarter=0.25 ** (d - 1),
            )
        )
    return pd.DataFrame(rows)


def fig_profiles(long: pd.DataFrame, depths) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(8.0, 5.6), sharex=True)
    rows = (
        ("grad_norm", r"$\|\partial L/\partial W_k\|_F$"),
        ("signal_norm", r"$\|\partial L/\partial z_k\|_F$ (back-propagated signal)"),
    )
    for j, (act, _) in enumerate(SCHEMES):
        for i, (col, ylabel) in enumerate(rows):
            ax = axes[i, j]
            for d in depths:
                g = long[(long.activation == act) & (long.depth == d)]
                q = g.groupby("layer")[col].quantile([0.25, 0.5, 0.75]).unstack()
                x = q.index.to_numpy()
                ax.plot(x, q[0.5], "-", color=depth_color(d), marker=".", ms=3, label=f"{d}")
                ax.fill_between(x, q[0.25], q[0.75], color=depth_color(d), alpha=0.2, lw=0)
                if act == "sigmoid":
                    # the derivative bound alone: a factor 1/4 per hidden layer below layer d
                    anchor = q[0.5].loc[d]
                    xb = np.arange(1, d + 1)
                    ax.plot(xb, anchor * 0.25 ** (d - xb), ":", color=depth_color(d), lw=1)
            ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            if i == 0:
                ax.set_title(LABEL[act])
            else:
                ax.set_xlabel("weight layer k (1 = input layer, depth + 1 = output)")
    axes[0, 1].legend(title="hidden layers", ncols=2, fontsize=7)
    axes[0, 0].plot([], [], "k:", lw=1, label=r"$(1/4)^{L-k}$ from layer L")
    axes[0, 0].legend(loc="lower right", fontsize=7)
    fig.suptitle(
        "Gradients at initialisation, spirals, width 20 (median over seeds, IQR band)",
        fontsize=9.5,
    )
    fig.tight_layout()
    return fig


def fig_ratio(long: pd.DataFrame, table: pd.DataFrame, depths) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    rng = np.random.default_rng(0)
    markers = {"sigmoid": "o", "relu": "^"}
    colors = {"sigmoid": "#D55E00", "relu": "#0072B2"}
    for act, _ in SCHEMES:
        for d in depths:
            g = long[(long.activation == act) & (long.depth == d)]
            r = (
                g[g.layer == 1].set_index("seed").signal_norm
                / g[g.layer == d].set_index("seed").signal_norm
            )
            x = np.log2(d) + rng.uniform(-0.12, 0.12, len(r))
            ax.scatter(x, r, s=3, color=colors[act], alpha=0.15, linewidths=0)
        t = table[table.activation == act]
        ax.plot(
            np.log2(t.depth),
            t.ratio_median,
            markers[act] + "-",
            color=colors[act],
            mec="k",
            mew=0.4,
            label=f"{LABEL[act]} (median)",
        )
    t = table[table.activation == "sigmoid"]
    ax.plot(np.log2(t.depth), t.bound_quarter, "k:", label=r"$(1/4)^{L-1}$")
    ax.set_yscale("log")
    ax.set_xticks(np.log2(depths), [str(d) for d in depths])
    ax.set_xlabel("hidden layers L")
    ax.set_ylabel(r"$\|\partial L/\partial z_1\| \,/\, \|\partial L/\partial z_L\|$")
    ax.set_title("Signal at the first vs the last hidden layer, at init\n(dots: one per seed)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    out = out_dir(args, __file__)
    cfg = settings(args.quick)
    clock = Clock()
    depths = cfg["depths"]
    grid = fd.Grid(
        {
            "activation": [a for a, _ in SCHEMES],
            "init": [i for _, i in SCHEMES],
            "depth": depths,
            "seed": range(cfg["seeds"]),
        },
        base=BASE,
        zip=[("activation", "init")],
    )
    res = fd.train_many(grid, threads=args.threads)
    clock.lap(f"init telemetry: {len(grid)} runs")
    long = collect(res)
    del res
    table = decay_table(long)
    save(fig_profiles(long, depths), out, "fig_layer_gradients_at_init")
    save(fig_ratio(long, table, depths), out, "fig_first_vs_last_layer")
    medians = (
        long.groupby(["activation", "depth", "layer"])[["grad_norm", "signal_norm"]]
        .median()
        .reset_index()
    )
    medians.to_csv(out / "layer_medians.csv", index=False, float_format="%.6g")
    clock.lap("figures")
    summary = {
        "study": "03 vanishing gradients at init",
        "quick": args.quick,
        "setup": {**BASE, "schemes": SCHEMES, "depths": depths, "seeds": cfg["seeds"]},
        "decay": table.to_dict(orient="records"),
        "wall_seconds": {**clock.stages, "total": clock.total},
    }
    write_summary(out, summary, {"Signal decay through the hidden layers at init": table})
    print(f"done in {clock.total:.1f} s -> {out}")


if __name__ == "__main__":
    main()
