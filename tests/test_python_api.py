"""Python as a first-class path: fd.sweep, train_many's progress, frames, merged stores,
float filters, fd.plots (issue #19, item 3).

Tiny grids (width 4, <= 24 epochs, 64 points), so the file runs in seconds once the trainer
is compiled.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastdepth as fd
from fastdepth import store as st
from fastdepth import sweep
from fastdepth.sweep.args import build_grid, make_parser

TINY = ["--widths", "4", "--epochs", "12", "--n-train", "64", "--n-test", "64",
        "--eval-every", "5", "--threads", "1"]  # fmt: skip
FLAGS = [*TINY, "--datasets", "xor", "--depths", "1,2", "--activations", "relu,tanh",
         "--inits", "xavier", "--seeds", "2", "--chunk-size", "3"]  # fmt: skip


def cli_grid(*flags: str) -> fd.Grid:
    """The grid the sweep command line builds from ``flags``."""
    return build_grid(make_parser().parse_args(list(flags)))


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same grid swept by the command line and by fd.sweep."""
    root = tmp_path_factory.mktemp("py")
    assert sweep.main([*FLAGS, "--out", str(root / "cli"), "--quiet"]) == 0
    path = fd.sweep(cli_grid(*FLAGS), root / "py", threads=1, chunk_size=3, progress=False)
    return root / "cli", path


def test_fd_sweep_writes_the_store_and_summary_of_the_command_line(both):
    cli, py = both
    assert py == cli.parent / "py" and st.Store(py).exists()
    for table in ("runs", "curves", "layers", "params"):
        a = sorted((cli / table).iterdir())
        b = sorted((py / table).iterdir())
        assert [p.name for p in a] == [p.name for p in b] and len(a) == 3
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True)), table
    for name in ("summary.csv", "summary.md"):
        assert (cli / name).read_text() == (py / name).read_text()
    assert st.load_manifest(py)["command"] == ["fastdepth.sweep(grid, out)"]
    assert "sat@end" in (py / "summary.md").read_text()  # tanh rows: saturation, not death


def test_fd_sweep_resumes_and_refuses_bad_arguments(both, tmp_path, capsys):
    _, py = both
    before = {p: p.stat().st_mtime_ns for p in (py / "runs").iterdir()}
    assert fd.sweep(cli_grid(*FLAGS), py, progress=True) == py  # nothing left to train
    err = capsys.readouterr().err
    assert "3/3 chunks done (8/8 runs), 0 to go" in err and f"store: {py}" in err
    assert {p: p.stat().st_mtime_ns for p in (py / "runs").iterdir()} == before
    with pytest.raises(fd.ConfigError, match="takes a Grid"):
        fd.sweep([fd.RunConfig()], tmp_path / "x")
    with pytest.raises(st.GridMismatchError):
        fd.sweep(cli_grid(*FLAGS, "--epochs", "13"), py, progress=False)
    with pytest.raises(st.StoreError, match="chunk_size=5 differs from the chunk size 3"):
        fd.sweep(cli_grid(*FLAGS), py, chunk_size=5)
    (tmp_path / "file").write_text("x")
    with pytest.raises(st.StoreError, match="is a file"):
        fd.sweep(cli_grid(*FLAGS), tmp_path / "file")
    with pytest.raises(fd.ConfigError, match="threads must be an integer >= 1"):
        fd.sweep(cli_grid(*FLAGS), tmp_path / "y", threads=0)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_fd_sweep_is_also_the_sweep_package():
    import fastdepth.sweep.cli  # noqa: F401  (importing a submodule keeps the call working)

    assert callable(fd.sweep) and fd.sweep.main is sweep.main
    assert "Train ``grid`` into the store" in fd.sweep.__call__.__doc__


def test_train_many_shows_progress_only_when_asked_or_watched(capsys):
    runs = list(cli_grid(*FLAGS))[:3]
    fd.train_many(runs, threads=1)  # stderr is not a terminal here: quiet
    assert capsys.readouterr().err == ""
    fd.train_many(runs, threads=1, progress=True)
    err = capsys.readouterr().err
    assert "train_many" in err and "3/3" in err and "runs" in err
    fd.train_many(runs, threads=1, progress=False)
    assert capsys.readouterr().err == ""


def test_to_frame_and_frame_are_load_curves_and_load_layers(both):
    _, py = both
    grid = cli_grid(*FLAGS)
    results = fd.train_many(grid, threads=1)
    for layers, loader in ((False, fd.load_curves), (True, fd.load_layers)):
        got = fd.frame(results, layers=layers)
        want = loader(py)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert list(want.columns[-3:]) == ["depth", "activation", "seed"]  # what varied
    r = results[5]
    for attach in ([], ["depth", "lr"]):
        pd.testing.assert_frame_equal(
            r.to_frame(attach=attach), fd.load_curves(py, run_id=r.run_id, attach=attach),
            check_exact=True,
        )  # fmt: skip
    one = r.to_frame()
    assert list(one.columns) == ["run_id", "step", *st.CURVE_METRICS]
    assert (one["run_id"] == r.run_id).all() and one["step"].is_monotonic_increasing
    lay = r.to_frame(layers=True)
    assert set(lay["layer"]) == set(range(r.config.depth + 1))


def test_load_merges_stores_with_a_store_column(tmp_path):
    base = [*TINY, "--datasets", "xor", "--depths", "1", "--quiet"]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert sweep.main([*base, "--seeds", "0:1", "--out", str(a)]) == 0
    assert sweep.main([*base, "--seeds", "2:3", "--out", str(b)]) == 0  # more seeds, later
    assert sweep.main([*base, "--seeds", "1:2", "--out", str(c)]) == 0
    runs = fd.load([a, b])
    assert list(runs.columns[:2]) == ["store", "run_index"]
    assert runs["store"].tolist() == [str(a)] * 2 + [str(b)] * 2
    assert runs["seed"].tolist() == [0, 1, 2, 3] and runs["run_id"].is_unique
    curves = fd.load_curves([a, b])
    assert curves.columns[0] == "store" and list(curves.columns[-1:]) == ["seed"]
    assert curves.groupby("store")["run_id"].nunique().tolist() == [2, 2]
    assert set(fd.load_curves([a, b], seed=3)["store"]) == {str(b)}
    assert set(fd.load_layers([a, b], seed=[0, 3])["seed"]) == {0, 3}
    from fastdepth.summary import summary_table

    assert summary_table(runs)["n_runs"].tolist() == [4]  # one row over all four seeds
    # the same run in two stores is one run (bit-identical): kept once, from the first
    with pytest.warns(UserWarning, match="2 runs are in more than one store"):
        merged = fd.load([a, b, c])
    assert merged["seed"].tolist() == [0, 1, 2, 3]
    with pytest.warns(UserWarning, match="more than one store"):
        assert fd.load_curves([a, c])["run_id"].nunique() == 3
    with pytest.raises(ValueError, match="no store given"):
        fd.load([])


def test_float_filters_match_within_a_tolerance_and_no_match_warns(tmp_path):
    out = tmp_path / "lr"
    lrs = fd.parse_lrs("1e-3:1:7")
    assert sweep.main([*TINY, "--datasets", "xor", "--depths", "1", "--seeds", "1",
                       "--lrs", "1e-3:1:7", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    want = fd.load(out)["run_id"].iloc[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a match: no warning
        assert set(fd.load_curves(out, lr=np.logspace(-3, 0, 7)[1])["run_id"]) == {want}
        assert set(fd.load_curves(out, lr=0.00316)["run_id"]) == {want}  # as a figure prints it
        assert set(fd.load_curves(out, lr=[lrs[1], 0.1])["run_id"]) == set(
            fd.load(out)["run_id"].iloc[[1, 4]]
        )
    with pytest.warns(st.NoMatchWarning, match=r"no run has lr=0.002 \(values: 0.001, 0.00316"):
        assert len(fd.load_curves(out, lr=0.002)) == 0
    with pytest.warns(st.NoMatchWarning, match="no run matches them all"):
        fd.load_layers(out, lr=0.001, seed=0, depth=1, run_id=want)
    # two stored values within the tolerance of the one asked for: refused, not guessed
    runs = pq.read_table(sorted((out / "runs").iterdir())[0])
    close = runs.set_column(runs.schema.get_field_index("lr"), "lr",
                            pa.array([0.0100, 0.0101] + [0.5] * (runs.num_rows - 2)))  # fmt: skip
    with pytest.raises(ValueError, match=r"lr=0.01005 is within .* \(0.01, 0.0101\)"):
        st.select.matching(close, {"lr": 0.01005})
    assert st.select.matching(close, {"lr": 0.0101}).sum() == 1


def test_fd_plots_is_reachable_without_importing_matplotlib_up_front():
    code = ("import sys, fastdepth as fd; assert 'matplotlib' not in sys.modules; "
            "f = fd.plots.loss_curves; import fastdepth.plots as fp; assert fd.plots is fp; "
            "print(f.__name__, 'matplotlib' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["loss_curves", "True"]
    assert {"plots", "sweep", "frame", "load_layers", "load_snapshots"} <= set(fd.__all__)


def test_old_store_dead_fractions_of_non_relu_runs_read_as_missing(both, tmp_path):
    """Schema 2 counted tanh units with z <= 0 as dead: those numbers are not read."""
    _, py = both
    old = tmp_path / "old"
    shutil.copytree(py, old)
    m = json.loads((old / "manifest.json").read_text())
    m["schema_version"] = 2
    (old / "manifest.json").write_text(json.dumps(m))
    new = fd.load(py)
    with pytest.warns(st.StoreSchemaWarning, match="ReLU criterion"):
        runs = fd.load(old)
    tanh = runs["activation"] == "tanh"
    assert runs.loc[tanh, "dead_frac_end"].isna().all() and runs.loc[tanh, "born_dead"].isna().all()
    pd.testing.assert_series_equal(runs.loc[~tanh, "dead_frac_end"],
                                   new.loc[~tanh, "dead_frac_end"])  # fmt: skip
    with pytest.warns(st.StoreSchemaWarning):
        lay = fd.load_layers(old)
    evals = lay[lay["act_sq"].notna()]  # hidden layers on evaluation steps
    assert evals.loc[evals["activation"] == "tanh", "dead"].isna().all()
    assert evals.loc[evals["activation"] == "relu", "dead"].notna().all()


def test_run_sweep_writes_the_summary_too(both, tmp_path):
    from fastdepth.distributed import run_sweep

    cli, _ = both
    rep = run_sweep(cli_grid(*FLAGS), tmp_path / "d", threads=1, chunk_size=3)
    assert rep.complete
    for name in ("summary.csv", "summary.md"):
        assert (tmp_path / "d" / name).read_text() == (cli / name).read_text()
