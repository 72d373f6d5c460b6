"""``RunConfig(count_regions=...)``: linear regions of every initial and final network.

The stored counts are checked against direct calls of the analysis functions on the stored
weights (not against the helper that made them), off must change nothing, the training
must not see the counting, and a config that cannot be counted is refused before anything
runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from _report_stores import SHAPES, TINY, build

import fastdepth as fd
from fastdepth import engine, report, sweep
from fastdepth.analysis import Network, grid_regions, segment_regions
from fastdepth.config import cost
from fastdepth.store import codec
from fastdepth.summary import format_text, summary_table

SMALL = {"epochs": 40, "n_train": 64, "n_test": 64, "width": 5, "eval_every": 10}


def _box(row) -> np.ndarray:
    """The documented window: the dataset's bounding box (its noise and parameters)."""
    return fd.datasets.bounding_box(row.dataset, row.noise, **row.dataset_kwargs)


def _direct(cfg: fd.RunConfig, params) -> int:
    """The count ``cfg`` asks for, by a direct call of the analysis function."""
    net = Network.from_config(cfg, params)
    box = _box(cfg)
    if cfg.count_regions == "segment":
        return segment_regions(net, box[:, 0], box[:, 1]).count
    return grid_regions(net, box, cfg.regions_resolution).count


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sweep store mixing both modes, 1-D and 2-D data, a residual and a float32 run."""
    out = tmp_path_factory.mktemp("regions") / "store"
    cases = {
        "dataset": ["circle", "circle", "regression1d", "segment", "moons"],
        "loss": ["bce", "bce", "mse", "bce", "bce"],
        "activation": ["relu", "relu", "leaky_relu", "relu", "relu"],
        "count_regions": ["segment", "grid", "segment", "segment", "grid"],
        "residual": [False, False, False, True, False],
        "dtype": ["float64", "float64", "float64", "float64", "float32"],
        "init": ["he", "he", "he", "he", "playground"],  # playground: biases 0.1
    }
    grid = fd.Grid({**cases, "depth": [1, 3], "seed": [0, 1]}, zip=[tuple(cases)],
                   base={**SMALL, "regions_resolution": 48})  # fmt: skip
    fd.sweep(grid, out, threads=2, progress=False)
    return out, list(grid)


def test_stored_counts_equal_the_analysis_functions_on_the_stored_weights(store):
    path, runs = store
    table = fd.load(path, timing=False)
    assert len(table) == len(runs) and table["regions_init"].notna().all()
    assert set(table["count_regions"]) == {"segment", "grid"}
    for cfg in runs:
        row = table[table.run_id == cfg.run_id].iloc[0]
        final = Network.from_store(path, cfg.run_id)
        assert row.regions_final == _direct(cfg, final.params), cfg
        assert row.regions_init == _direct(cfg, cfg.initial_params()), cfg
        assert row.regions_final >= 1
    # the counts are not constant: training and depth change them
    assert table["regions_final"].nunique() > 3
    # zero initial biases: the initial network is positively homogeneous, so a segment
    # through the origin crosses 2 regions (1 for a linear network)
    seg = table[(table.count_regions == "segment") & (table.init == "he")]
    assert set(seg["regions_init"]) == {2}


def test_one_d_data_count_along_the_data_range(store):
    path, runs = store
    table = fd.load(path, timing=False)
    one_d = table[table.dataset.isin(["regression1d", "segment"])]
    assert len(one_d) == 8 and (one_d.count_regions == "segment").all()
    cfg = next(r for r in runs if r.dataset == "segment")
    lo, hi = fd.datasets.bounding_box("segment")[0]
    net = Network.from_store(path, cfg.run_id)
    exact = segment_regions(net, lo, hi)
    assert one_d[one_d.run_id == cfg.run_id].regions_final.iloc[0] == exact.count
    assert exact.count > 1 and np.all((exact.t > 0) & (exact.t < 1))
    with pytest.raises(fd.ConfigError, match="count_regions='grid' counts on a 2-D grid"):
        fd.RunConfig(dataset="regression1d", loss="mse", count_regions="grid")


def test_off_by_default_adds_nothing():
    c = fd.RunConfig()
    assert c.count_regions == "off"
    assert "count_regions" not in c.canonical_dict()
    assert "regions_resolution" not in c.canonical_dict()
    # the resolution is no part of a run that does not use it
    assert fd.RunConfig(regions_resolution=64).run_id == c.run_id
    assert (
        fd.RunConfig(count_regions="segment", regions_resolution=64).run_id
        == fd.RunConfig(count_regions="segment").run_id
    )
    assert fd.RunConfig(count_regions="grid").run_id != c.run_id
    res = fd.train(fd.RunConfig(**SMALL))
    assert not {"regions_init", "regions_final"} & set(res.summary)
    table = codec.runs_table([res], 0, 0).to_pandas()
    assert table[["regions_init", "regions_final"]].isna().all().all()
    assert cost.regions_cost(c) == 0.0
    assert "regions@0" not in format_text(summary_table(table))


def test_counting_leaves_the_training_byte_identical():
    # the W1 workload's shape (rings, depths 1-8), shortened; counting on vs off
    grid = fd.Grid({"depth": [1, 2, 4, 8], "seed": [0, 1]},
                   base={**SMALL, "dataset": "rings", "width": 16})  # fmt: skip
    counted = [r.replace(count_regions="grid", regions_resolution=40) for r in grid]
    tel, params, results = [], [], []
    for runs in (list(grid), counted):
        batch = engine.pack_batch(runs)
        done = {}

        def unpack(ks, batch=batch, done=done):  # as train_many does: in the trainer threads
            for k in ks:
                done[int(k)] = engine.unpack_one(batch, int(k))

        engine.run_batch(batch, threads=2, on_done=unpack)
        tel.append(batch.arrays["tel"].tobytes())
        params.append(batch.arrays["params"].tobytes())
        results.append([done[k] for k in range(len(runs))])
    assert tel[0] == tel[1] and params[0] == params[1]
    off, on = results
    for x, y in zip(off, on, strict=True):
        assert x.curves.equals(y.curves)
        assert "regions_init" not in x.summary
        assert y.summary.keys() - x.summary.keys() == {"regions_init", "regions_final"}
        same = {k: v for k, v in y.summary.items() if k in x.summary}
        rx, ry = (codec.runs_table([r], 0, 0).select(list(same)).to_pandas() for r in (x, y))
        assert rx.equals(ry)  # NaN == NaN here, as it is not in pyarrow's equals
    # the same counts whatever the thread count (each network counted on its own)
    one = fd.train_many(counted, threads=1, progress=False)
    assert [r.summary["regions_final"] for r in one] == [r.summary["regions_final"] for r in on]
    assert all(r.summary["regions_final"] > 1 for r in on)


def test_a_diverged_run_has_no_final_count():
    cfg = fd.RunConfig(**SMALL, depth=3, activation="identity", lr=100.0,
                       count_regions="segment")  # fmt: skip
    res = fd.train(cfg)
    assert res.status == "diverged"
    assert res.summary["regions_init"] == 1 and res.summary["regions_final"] is None


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu"])
def test_a_smooth_activation_is_refused(activation, capsys):
    with pytest.raises(fd.ConfigError, match="needs a piecewise-linear activation"):
        fd.RunConfig(activation=activation, count_regions="segment")
    code = sweep.main(["--activations", activation, "--count-regions", "segment",
                       "--dry-run", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "piecewise-linear" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"count_regions": "grd"}, "did you mean 'grid'"),
        ({"count_regions": "grid", "regions_resolution": 1}, "regions_resolution must be in"),
        ({"count_regions": "grid", "regions_resolution": 10_000}, "regions_resolution must be"),
    ],
)
def test_bad_settings_are_refused(kw, match):
    with pytest.raises(fd.ConfigError, match=match):
        fd.RunConfig(**kw)


def test_the_estimate_prices_the_counts():
    base = fd.RunConfig(depth=8, width=16, dataset="spirals")
    seg, grid = base.replace(count_regions="segment"), base.replace(count_regions="grid")
    big = grid.replace(regions_resolution=512)
    rate = cost.RATE_PER_THREAD
    # two counts per run; measured on the reference machine: ~16 ms per 256^2 count,
    # ~0.45 ms per exact count at depth 8, width 16 (docs/analysis.md)
    assert cost.regions_cost(grid) / rate == pytest.approx(2 * 16e-3, rel=0.25)
    assert cost.regions_cost(seg) / rate == pytest.approx(2 * 0.45e-3, rel=0.25)
    assert cost.regions_cost(big) == pytest.approx(4 * cost.regions_cost(grid))
    secs = [fd.Grid({"seed": [0, 1]}, base=c.to_dict()).estimate_seconds(threads=1)
            for c in (base, seg, grid)]  # fmt: skip
    assert secs[0] < secs[1] < secs[2]
    assert secs[2] - secs[0] == pytest.approx(2 * cost.regions_cost(grid) / rate)


def test_summary_and_report_show_the_counts(tmp_path_factory, tmp_path):
    base = tmp_path_factory.getbasetemp() / "report_stores"
    path = build(base, {"regions": SHAPES["regions"]})["regions"]
    runs = fd.load(path, timing=False)
    table = summary_table(runs)
    means = runs.groupby("depth")["regions_final"].mean()
    assert np.allclose(table.set_index("depth")["regions_final"], means)
    assert "regions@end" in format_text(table)
    rep = report.write_report(path, tmp_path)
    assert "regions_vs_depth" not in dict(rep.skipped)
    pngs = sorted((tmp_path / "figures").glob("regions_vs_depth__*.png"))
    assert len(pngs) == 1
    md = rep.markdown.read_text()
    assert "## Linear regions against depth" in md or "Linear regions against depth" in md
    assert f"figures/{pngs[0].name}" in md
    assert "regions@0" in md  # the summary section


def test_the_sweep_flags(tmp_path):
    out = tmp_path / "s"
    args = ["--datasets", "moons", "--depths", "1,2", "--seeds", "1", "--count-regions",
            "segment,grid", "--regions-resolution", "24", *TINY, "--out", str(out)]  # fmt: skip
    assert sweep.main(args) == 0
    runs = fd.load(out, timing=False)
    assert sorted(runs.count_regions) == ["grid", "grid", "segment", "segment"]
    assert runs.regions_init.notna().all() and (runs.regions_resolution == 24).all()


def test_warm_up_compiles_the_region_counts_a_study_asks_for(monkeypatch):
    """A study that counts regions gets their kernels compiled before its first chunk (the
    sweep's rate then describes training), and says so; 'off' needs nothing."""
    from fastdepth.runner import chunks

    monkeypatch.setattr(chunks, "WARM_NOTE_AFTER", 0.0)
    monkeypatch.setattr(chunks, "_READY", {("float64", False)})
    notes: list[str] = []
    assert chunks.warm_up({"float64"}, notes.append, regions={"off"}) == 0.0 and not notes
    chunks.warm_up({"float64"}, notes.append, regions={"grid", "off"})
    assert chunks._READY == {("float64", False), ("float64", False, "grid")}
    assert notes[0].startswith("compiling the region counts (")
    assert chunks.warm_up({"float64"}, notes.append, regions={"grid"}) == 0.0
