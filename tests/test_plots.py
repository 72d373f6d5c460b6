"""fastdepth.plots: every figure drawn from small real sweeps, checked through its axes."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
from _report_stores import SHAPES, build
from matplotlib.figure import Figure

import fastdepth.plots as fp
from fastdepth.metrics import mean_ci
from fastdepth.store import load, load_curves, load_layers


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "report_stores"
    return {**build(base), **build(base, {"regions": SHAPES["regions"]})}


@pytest.fixture(scope="module")
def main(stores):
    p = stores["main"]
    return p, load(p, timing=False), load_curves(p), load_layers(p)


@pytest.fixture(scope="module")
def lrs(stores):
    return load(stores["lrs"], timing=False)


def depth_lines(ax):
    return [ln for ln in ax.get_lines() if ln.get_label().startswith("depth ")]


def header(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.texts)


def panels(fig: Figure):
    """The data axes (colour bars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for lg in fig.legends for t in lg.get_texts()]


# ----------------------------------------------------------------------------- grid


def test_grid_info_finds_what_varied_and_what_was_fixed(main):
    _, runs, _, _ = main
    info = fp.grid_info(runs)
    assert set(info.varied) == {"dataset", "depth", "seed", "widths"}
    assert info.conditions == ["dataset"] and info.linked == [] and info.depths == [1, 2, 3]
    assert info.seeds == (3, 3)
    assert info.fixed["width"] == 4 and info.fixed["lr"] == 0.05
    assert fp.varied_text(info) == "depth (1, 2, 3), dataset (circle, rings); 3 seeds per cell"
    fixed = fp.fixed_text(info)
    assert "width 4" in fixed and "lr 0.05" in fixed and "full batch" in fixed
    assert "momentum" not in fixed and "eval_every" not in fixed  # no effect / bookkeeping


def test_best_lr_avoids_the_diverging_rate_and_links_lr_to_depth(lrs):
    best = fp.best_lr(lrs)
    assert best["depth"].tolist() == [1, 2, 3]
    # lr 100 diverges at depth 2 and 3, so 0.05 is the best there
    assert best.set_index("depth").loc[[2, 3], "lr"].tolist() == [0.05, 0.05]
    sel = fp.select_best_lr(lrs)
    assert len(sel) == 3 * 2 and (sel.groupby("depth")["lr"].nunique() == 1).all()


def test_depth_palette_is_ordered_distinct_and_stable():
    a = fp.depth_palette([8, 1, 2, 4])
    assert list(a) == [1, 2, 4, 8] and len(set(a.values())) == 4
    assert fp.depth_palette([1, 2, 4, 8]) == a
    # darker for shallow: lightness grows with depth (readable in grey scale)
    lum = [0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] for c in a.values()]
    assert lum == sorted(lum)


def cielab(rgb):
    """CIELAB (D65) of sRGB colours, shape (n, 3)."""
    c = np.asarray(rgb, dtype=np.float64)[:, :3]
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.column_stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]),
                            200 * (f[:, 1] - f[:, 2])])  # fmt: skip


@pytest.mark.parametrize("n", [2, 3, 5, 8, 12, 16])
def test_depth_palette_separates_up_to_16_depths(n):
    pal = fp.depth_palette(range(1, n + 1))
    lab = cielab(list(pal.values()))
    dist = np.linalg.norm(lab[:, None] - lab[None], axis=2)[np.triu_indices(n, 1)]
    assert dist.min() > 18  # every pair, not only neighbours (viridis: 7.6 at 16 depths)
    lum = [0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] for c in pal.values()]
    assert np.all(np.diff(lum) > 0)  # still ordered: shallow dark, deep light
    assert 15 < lab[:, 0].min() and lab[:, 0].max() < 85  # no near-black, nothing pale


def test_more_than_16_depths_are_split_into_groups_that_each_span_the_palette():
    groups = fp.depth_groups(range(1, 21))
    assert groups == [list(range(1, 11)), list(range(11, 21))]
    assert fp.depth_groups([1, 2, 4]) == [[1, 2, 4]]
    pal = fp.depth_palette(range(1, 21))
    assert pal[1] == pal[11] and pal[10] == pal[20]  # the same colours in each group
    assert fp.depth_palette(range(1, 11)) == {d: pal[d] for d in range(1, 11)}


# ----------------------------------------------------------------------------- curves


def test_loss_curves(main):
    _, runs, curves, _ = main
    rc_before = dict(mpl.rcParams)
    fig = fp.loss_curves(runs, curves)
    assert isinstance(fig, Figure)
    axes = panels(fig)
    assert len(axes) == 4  # (train, test) x (circle, rings)
    assert [ax.get_title() for ax in axes[:2]] == ["circle", "rings"]
    assert [ax.get_ylabel() for ax in axes] == ["training loss"] * 2 + ["test loss"] * 2
    assert all("step" in ax.get_xlabel() for ax in axes[2:])
    for ax in axes:
        assert [ln.get_label() for ln in depth_lines(ax)] == ["depth 1", "depth 2", "depth 3"]
        assert len(ax.collections) == 3  # one IQR band per depth
    # the median of the training loss at step 0 is the median of the runs' initial losses
    circle_d1 = runs[(runs.dataset == "circle") & (runs.depth == 1)]
    y0 = depth_lines(axes[0])[0].get_ydata()[0]
    assert y0 == pytest.approx(np.median(circle_d1["initial_loss"]))
    text = header(fig)
    assert "Loss during training by depth" in text and "median over seeds" in text
    assert "varied: depth (1, 2, 3), dataset (circle, rings)" in text
    assert "fixed:" in text and "width 4" in text
    assert legend_texts(fig)[:3] == ["depth 1", "depth 2", "depth 3"]
    assert fp.figure_notes(fig) == []
    assert plt.get_fignums() == []  # nothing registered with pyplot
    assert dict(mpl.rcParams) == rc_before  # the style does not leak


def test_same_colour_for_a_depth_in_every_figure(main):
    _, runs, curves, layers = main
    pal = fp.depth_palette(runs.depth)
    figs = [fp.loss_curves(runs, curves), fp.grad_norm_curves(runs, curves),
            fp.layer_grad_profile(runs, layers)]  # fmt: skip
    for fig in figs:
        for ln in depth_lines(panels(fig)[0]):
            d = int(ln.get_label().split()[1])
            assert mpl.colors.to_rgba(ln.get_color()) == pytest.approx(pal[d])


def test_grad_norm_curves(main):
    _, runs, curves, _ = main
    fig = fp.grad_norm_curves(runs, curves)
    axes = panels(fig)
    assert len(axes) == 2
    for ax in axes:
        assert "gradient norm" in ax.get_ylabel() and len(depth_lines(ax)) == 3


# ----------------------------------------------------------------------------- per layer


def test_layer_grad_profile_runs_from_output_to_input(main):
    _, runs, _, layers = main
    fig = fp.layer_grad_profile(runs, layers)
    axes = panels(fig)
    assert len(axes) == 4
    assert "at init" in axes[0].get_ylabel() and "end of training" in axes[2].get_ylabel()
    assert all("from the output" in ax.get_xlabel() for ax in axes[2:])
    for ax in axes:
        assert ax.get_yscale() == "log"
        lines = depth_lines(ax)
        assert len(lines) == 3
        for ln in lines:  # depth d has d hidden layers + output at distances d ... 0
            d = int(ln.get_label().split()[1])
            x = np.asarray(ln.get_xdata())  # dodged sideways by less than 0.25
            assert np.round(x).tolist() == list(range(d, -1, -1))
            assert np.abs(x - np.round(x)).max() < 0.25
    # init row = the runs table's init gradient norms (median over seeds)
    g = runs[(runs.dataset == "circle") & (runs.depth == 3)]
    med = np.median(np.vstack(g["layer_grad_norm_init"].to_list()), axis=0)
    assert depth_lines(axes[0])[2].get_ydata() == pytest.approx(med)
    # without the layers table: mean over training, said so
    fig2 = fp.layer_grad_profile(runs)
    assert "mean over training" in panels(fig2)[2].get_ylabel()
    assert any("no layers table" in n for n in fp.figure_notes(fig2))


def test_dead_units(main):
    _, runs, _, layers = main
    fig = fp.dead_units(runs, layers)
    axes = np.array(panels(fig)).reshape(4, 2)
    assert "dead fraction" in axes[0, 0].get_ylabel() and "at init" in axes[0, 0].get_ylabel()
    assert "at the end" in axes[1, 0].get_ylabel()
    assert "during" not in axes[2, 0].get_ylabel() and "all" in axes[2, 0].get_ylabel()
    assert "born dead" in axes[3, 0].get_ylabel()
    for ax in axes[:3].ravel():
        assert len(ax.get_lines()) == 3
    assert all(len(ax.patches) == 3 for ax in axes[3])  # one bar per depth
    assert len(panels(fp.dead_units(runs))) == 6  # no layers table: no row over training


# ----------------------------------------------------------------------------- vs depth


@pytest.mark.parametrize(
    "func, ylabels",
    [
        (fp.accuracy_vs_depth, ["final accuracy"]),
        (fp.gradstats_vs_depth, ["mean ‖∇L‖ over training", "CV of ‖∇L‖ (std / mean)"]),
        (fp.oscillation_vs_depth, ["share of steps where\nthe loss rose",
                                   "total variation /\nnet loss decrease"]),
    ],
)  # fmt: skip
def test_metrics_against_depth(main, func, ylabels):
    _, runs, _, _ = main
    fig = func(runs)
    axes = np.array(panels(fig)).reshape(len(ylabels), 2)
    for i, label in enumerate(ylabels):
        for ax in axes[i]:
            assert ax.get_ylabel() == label and ax.get_xlabel() == "depth (hidden layers)"
            assert list(ax.get_xticks()) == [1, 2, 3]
    # accuracy: a test and a train point (mean +- CI) per depth, and the single seeds
    if func is fp.accuracy_vs_depth:
        ax = axes[0, 0]
        assert len(ax.containers) == 6  # errorbars: 2 series x 3 depths
        assert len(ax.collections) >= 3  # seed dots per depth
        mean = runs[(runs.dataset == "circle") & (runs.depth == 2)]["final_test_acc"].mean()
        ys = [c.lines[0].get_ydata()[0] for c in ax.containers]
        assert any(y == pytest.approx(mean) for y in ys)
        assert "test (mean ± 95% CI)" in legend_texts(fig)


def error_bars(ax):
    """``[(low, high), ...]`` of the error bars of an axes."""
    return [tuple(seg[:, 1]) for c in ax.containers if c.has_yerr
            for seg in c.lines[2][0].get_segments()]  # fmt: skip


def test_intervals_of_shares_stay_in_0_1_and_on_log_axes_above_0(main):
    _, runs, _, _ = main
    runs = runs.copy()
    cell = (runs.dataset == "circle") & (runs.depth == 1)
    runs.loc[cell, "up_fraction"] = [0.0, 0.0, 0.3]  # Student t: 0.1 +- 0.43
    runs.loc[cell, "final_test_acc"] = [1.0, 1.0, 0.9]  # Student t: 0.967 +- 0.14
    runs.loc[cell, "grad_norm_mean"] = [0.01, 0.01, 10.0]  # Student t: 3.3 +- 14
    assert mean_ci([0.0, 0.0, 0.3])[0] - mean_ci([0.0, 0.0, 0.3])[2] < 0  # what t would draw
    osc = panels(fp.oscillation_vs_depth(runs))
    acc = panels(fp.accuracy_vs_depth(runs))
    grad = panels(fp.gradstats_vs_depth(runs))
    assert grad[0].get_yscale() == "log"
    for ax in (osc[0], acc[0]):
        bars = error_bars(ax)
        assert bars and all(0 <= lo <= hi <= 1 for lo, hi in bars)
    assert any(lo == 0 for lo, _ in error_bars(osc[0]))  # where t would go below 0
    assert any(hi == 1 for _, hi in error_bars(acc[0]))  # where t would go above 1
    assert all(lo > 0 for lo, _ in error_bars(grad[0]))  # t would give 3.3 - 14 < 0
    # the same values give the same intervals (a fixed bootstrap seed)
    assert error_bars(panels(fp.oscillation_vs_depth(runs))[0]) == error_bars(osc[0])


# ----------------------------------------------------------------------------- lr, boundaries


def test_lr_heatmaps(lrs, main):
    fig = fp.lr_heatmaps(lrs)
    axes = panels(fig)
    assert len(axes) == 3
    # the third panel: diverged or collapsed (issue #19: collapse was never shown)
    titles = ["median final train loss", "mean final test accuracy",
              "share of seeds diverged or collapsed"]  # fmt: skip
    assert [ax.get_title() for ax in axes] == titles
    for ax in axes:
        assert ax.get_xlabel() == "learning rate" and ax.get_ylabel() == "depth"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0.05", "100"]
        assert ax.images[0].get_array().shape == (3, 2)
        assert sum(isinstance(p, mpl.patches.Rectangle) for p in ax.patches) == 2 * 3
    div = axes[2].images[0].get_array()
    assert div[:, 0].tolist() == [0, 0, 0] and div[1:, 1].tolist() == [1, 1]
    assert "outlined: the best lr of each depth" in header(fig)
    with pytest.raises(fp.CannotDraw, match="single learning rate"):
        fp.lr_heatmaps(main[1])


def test_collapsed_seeds_count_as_failed_in_the_heatmap_and_the_best_lr(lrs):
    runs = lrs.copy()
    hit = (runs.depth == 1) & (runs.lr == 0.05)
    runs.loc[hit, "collapsed"] = True  # both seeds: a constant output at the small rate
    fail = panels(fp.lr_heatmaps(runs))[2]
    share = fail.images[0].get_array()
    assert share[0].tolist() == [1, 0] and share[1:, 1].tolist() == [1, 1]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in fail.texts}  # fmt: skip
    assert cells[(0, 0)] == "2 col" and cells[(1, 1)] == "2 div" and cells[(0, 1)] == "0"
    best = fp.best_lr(runs).set_index("depth")
    assert best.loc[1, "lr"] == 100 and best.loc[1, "collapsed"] == 0  # avoids the collapse
    assert fp.best_lr(lrs).set_index("depth").loc[1, "collapsed"] == 0


def test_decision_boundaries(main):
    path, runs, _, _ = main
    fig = fp.decision_boundaries(path)
    axes = panels(fig)
    assert len(axes) == 6  # (circle, rings) x depths
    assert [ax.get_ylabel() for ax in axes[::3]] == ["circle", "rings"]
    reps = fp.representative_runs(runs)
    assert len(reps) == 6 and (reps.status == "ok").all()
    for ax, (_, rep) in zip(axes, reps.iterrows(), strict=True):
        assert ax.get_title().startswith(f"depth {rep.depth}\nseed {rep.seed}")
        p = ax.images[0].get_array()
        assert p.shape == (200, 200) and 0 <= p.min() and p.max() <= 1
        assert len(ax.collections) >= 2  # the two classes of training points
    assert "class 0 (training points)" in legend_texts(fig)
    # a runs table plus the store path; the path is required then
    sub = runs[runs.dataset == "circle"]
    assert len(panels(fp.decision_boundaries(sub, path=path, resolution=20))) == 3
    with pytest.raises(TypeError, match="path="):
        fp.decision_boundaries(sub)


# ----------------------------------------------------------------------------- degenerate


def test_every_run_diverged(stores):
    p = stores["alldiv"]
    runs, curves, layers = load(p, timing=False), load_curves(p), load_layers(p)
    assert (runs.status == "diverged").all()
    for draw in (lambda: fp.loss_curves(runs, curves), lambda: fp.accuracy_vs_depth(runs),
                 lambda: fp.decision_boundaries(p)):  # fmt: skip
        with pytest.raises(fp.CannotDraw, match="diverged"):
            draw()
    # the state at init is still there to see
    fig = fp.layer_grad_profile(runs, layers)
    assert len(depth_lines(panels(fig)[0])) == 2
    assert not panels(fig)[1].axison  # the end-of-training panel: nothing, said so
    assert any("all 2 runs diverged" in n for n in fp.figure_notes(fig))


def test_single_seed_single_depth(stores):
    p = stores["single"]
    runs, curves = load(p, timing=False), load_curves(p)
    fig = fp.loss_curves(runs, curves)
    assert all(len(ax.collections) == 0 for ax in panels(fig))  # no IQR band of one run
    assert "median" not in header(fig).splitlines()[0]
    assert any("single seed" in n for n in fp.figure_notes(fig))
    assert "nothing (a single run)" in header(fig)
    with pytest.raises(fp.CannotDraw, match="single depth"):
        fp.accuracy_vs_depth(runs)


def test_empty_runs_table(main):
    with pytest.raises(fp.CannotDraw, match="no finished runs"):
        fp.accuracy_vs_depth(main[1].iloc[:0])


# ----------------------------------------------------------------------------- registry


def test_every_registered_figure_is_public_and_draws_from_its_inputs(main, lrs, stores):
    path, runs, curves, layers = main
    inputs = {"curves": curves, "layers": layers, "path": path,
              "palette": fp.depth_palette(runs.depth)}  # fmt: skip
    assert list(fp.FIGURES)[:2] == ["loss_curves", "grad_norm_curves"]  # the report's order
    snap = stores["snap"]
    snap_inputs = {"curves": load_curves(snap), "layers": load_layers(snap), "path": snap,
                   "palette": inputs["palette"]}  # fmt: skip
    # the figures a relu study without snapshots or region counts leaves out, drawn from a
    # store they fit
    elsewhere = {"saturated_units": snap, "units_over_training": snap,
                 "regions_vs_depth": stores["regions"]}  # fmt: skip
    sharp = {"sharpness_curves", "stable_lr_vs_sharpness"}  # from the lr grid with sharpness
    lrs_inputs = {**inputs, "curves": load_curves(stores["lrs"])}
    for name, spec in fp.FIGURES.items():
        assert spec.name == name and spec.title and spec.caption
        fn = spec.build.__name__
        assert fn in fp.__all__ and getattr(fp, fn) is spec.build, name
        src, given = (lrs, inputs) if spec.lr_grid else (runs, inputs)
        if name in elsewhere:
            assert spec.skip_reason(runs, fp.grid_info(runs)), name
            src = load(elsewhere[name], timing=False)
            given = {**snap_inputs, "palette": fp.depth_palette(src.depth)}
        if name in sharp:
            assert "no sharpness" in spec.skip_reason(
                runs, fp.grid_info(runs)
            ) or "no initial sharpness" in spec.skip_reason(runs, fp.grid_info(runs)), name
            src, given = lrs, lrs_inputs
        info = fp.grid_info(src)
        assert spec.skip_reason(src, info) is None, name
        fig = spec.draw(src, **given)
        assert isinstance(fig, Figure) and fig.get_label() == name
    heat = fp.FIGURES["lr_heatmaps"]
    assert "single learning rate (0.05)" in heat.skip_reason(runs, fp.grid_info(runs))
    with pytest.raises(TypeError, match="needs curves"):
        fp.FIGURES["loss_curves"].draw(runs, palette=inputs["palette"])
    with pytest.raises(ValueError, match="unknown inputs"):
        fp.FigureSpec("x", "X", "an x", fp.loss_curves, needs=("curve",))


# ----------------------------------------------------------------------------- sharpness


def test_sharpness_curves_draw_each_depth_and_its_stability_limit(stores, lrs):
    curves = load_curves(stores["lrs"])
    ok = lrs[lrs["lr"] == 0.05]
    fig = fp.sharpness_curves(ok, curves)
    ax = fig.axes[0]
    assert len([ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]) == 3  # depths
    limits = sorted(ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "--")
    assert limits == pytest.approx([2 / 0.05] * 3)
    with pytest.raises(fp.CannotDraw, match="no sharpness measured"):
        fp.sharpness_curves(load(stores["main"], timing=False), curves)


def test_max_stable_lr_follows_experiment_01s_definition(lrs):
    table = fp.max_stable_lr(lrs).set_index("depth")
    # identity nets at lr 100: depth 1 trains, depths 2 and 3 diverge (see _report_stores)
    assert table.loc[1, "max_stable_lr"] == 100 and np.isnan(table.loc[1, "min_failing_lr"])
    assert table.loc[2, "max_stable_lr"] == 0.05 and table.loc[2, "min_failing_lr"] == 100
    lam0 = lrs[lrs["depth"] == 3].drop_duplicates("seed")["sharpness_init"].to_numpy()
    assert table.loc[3, "limit_median"] == pytest.approx(np.median(2 / lam0))
    fig = fp.stable_lr_vs_sharpness(lrs)
    assert fig.get_label() == "stable_lr_vs_sharpness"
    with pytest.raises(fp.CannotDraw, match="single learning rate|a single"):
        fp.stable_lr_vs_sharpness(lrs[lrs["lr"] == 0.05])
