"""The results store: schemas, loading and filters, atomic writes, the lock, grid checks.

Every grid here is tiny (width 4, depth <= 2, a few dozen epochs, 64 points), so the file
runs in seconds once the trainer is compiled.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import fastdepth as fd
from fastdepth import store as st
from fastdepth import sweep
from fastdepth.config import Grid, RunConfig
from fastdepth.metrics import summarize
from fastdepth.store.lock import _proc_stat
from fastdepth.summary import format_markdown, format_text, group_keys, summary_table

TINY = ["--widths", "4", "--epochs", "20", "--n-train", "64", "--n-test", "64",
        "--eval-every", "10", "--threads", "1", "--quiet"]  # fmt: skip


def run_sweep(out, *args: str) -> int:
    return sweep.main([*TINY, "--out", str(out), *args])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """2 datasets x depths 1,2 x 3 seeds = 12 runs in chunks of 5 (the last one short)."""
    out = tmp_path_factory.mktemp("store") / "small"
    assert run_sweep(out, "--depths", "1,2", "--seeds", "3", "--chunk-size", "5") == 0
    return out


# ----------------------------------------------------------------------------- schemas


def test_summary_columns_match_metrics_summarize():
    log = np.abs(np.random.default_rng(0).normal(size=(5, 2 + 3)))
    ev = np.full((2, 4 + 2 * 2), 0.5)
    init = np.zeros(4 * 3 - 1)
    keys = list(summarize(log, ev, init, 3, "ok", -1))
    assert keys == ["status", *(name for name, _ in st.SUMMARY_COLUMNS)]


def test_runs_schema_covers_every_runconfig_field():
    names = st.RUNS_SCHEMA.names
    assert names[:4] == ["run_index", "run_id", "chunk", "status"]
    assert all(f in names for f in st.CONFIG_COLUMNS)
    assert len(set(names)) == len(names)


def test_parts_carry_the_explicit_schemas(small):
    for table, schema in st.SCHEMAS.items():
        for part in sorted((small / table).glob("part-*.parquet")):
            assert pq.read_schema(part).equals(schema, check_metadata=True), part


def test_layout_and_manifest(small):
    m = st.load_manifest(small)
    assert m["n_runs"] == 12 and m["chunk_size"] == 5 and m["n_chunks"] == 3
    assert Grid.from_dict(m["grid"]) == sweep.build_grid(
        sweep.make_parser().parse_args([*TINY, "--depths", "1,2", "--seeds", "3"])
    )
    for key in ("versions", "python", "threads", "cpu", "git_commit", "created", "sessions"):
        assert key in m
    assert set(m["versions"]) >= {"fastdepth", "numpy", "numba", "pandas", "pyarrow"}
    assert m["threads"] == 1
    for d in st.PART_DIRS:
        assert len(list((small / d).iterdir())) == 3
    assert st.Store(small).done_chunks() == [0, 1, 2]
    assert not (small / st.LOCK).exists()  # released
    assert (small / "summary.csv").is_file() and (small / "summary.md").is_file()


def test_chunk_bounds_is_a_pure_partition():
    assert st.chunk_bounds(12, 5) == [(0, 5), (5, 10), (10, 12)]
    assert st.chunk_bounds(4, 4) == [(0, 4)]
    assert st.chunk_bounds(0, 3) == []
    with pytest.raises(ValueError):
        st.chunk_bounds(3, 0)


# ----------------------------------------------------------------------------- loading


def test_load_runs_in_grid_order(small):
    runs = fd.load(small)
    assert len(runs) == 12
    assert runs["run_index"].tolist() == list(range(12))
    assert runs["chunk"].tolist() == [i // 5 for i in range(12)]
    grid = st.Store(small).grid()
    assert runs["run_id"].tolist() == [r.run_id for r in grid]
    assert runs["seed"].tolist() == [0, 1, 2] * 4  # seeds vary fastest
    assert set(runs["status"]) == {"ok"}
    assert runs["widths"].tolist()[:6] == ["4"] * 3 + ["4,4"] * 3
    assert str(runs["batch_size"].dtype) == "Int64" and runs["batch_size"].isna().all()
    assert [len(x) for x in runs["layer_grad_norm_mean"]] == [2, 2, 2, 3, 3, 3] * 2
    assert (runs["wall_time"] >= 0).all()
    # every row rebuilds its RunConfig
    row = runs.iloc[4]
    cfg = RunConfig(**{k: row[k] for k in ("dataset", "depth", "width", "epochs", "n_train",
                                           "n_test", "eval_every", "seed")})  # fmt: skip
    assert cfg.run_id == row["run_id"]


def test_load_columns_and_timing(small):
    df = fd.load(small, columns=["depth", "final_test_acc"], timing=False)
    assert list(df.columns) == ["depth", "final_test_acc"]
    t = st.load_timing(small)
    assert len(t) == 12 and (t["threads"] == 1).all()


def test_load_curves_filters(small):
    runs = fd.load(small)
    c = fd.load_curves(small, depth=2)
    want = runs.loc[runs.depth == 2, "run_id"].tolist()
    assert list(dict.fromkeys(c["run_id"])) == want  # grid order
    # the grid fields that vary among the store's runs come with every row, unless told
    assert list(c.columns) == ["run_id", "step", *st.CURVE_METRICS, "dataset", "depth", "seed"]
    bare = fd.load_curves(small, depth=2, attach=[])
    assert list(bare.columns) == ["run_id", "step", *st.CURVE_METRICS]
    for _, g in c.groupby("run_id"):
        assert g["step"].tolist() == list(range(21))  # log steps 0..19 and the final eval
    c2 = fd.load_curves(small, dataset="circle", depth=[1, 2], seed=[0, 2])
    assert c2["run_id"].nunique() == 4
    one = runs["run_id"].iloc[7]
    c3 = fd.load_curves(small, run_id=[one], attach=["depth", "seed"])
    assert set(c3["run_id"]) == {one}
    assert (c3["depth"] == runs["depth"].iloc[7]).all() and (c3["seed"] == 1).all()
    with pytest.warns(st.NoMatchWarning, match=r"no run has depth=8 \(values: 1, 2\)"):
        assert len(fd.load_curves(small, depth=8)) == 0
    assert len(fd.load_curves(small)) == 12 * 21
    assert len(fd.load_curves(small, widths=[4, 4])) == 6 * 21


def test_load_curves_unknown_column_suggests(small):
    with pytest.raises(ValueError, match="did you mean 'depth'"):
        fd.load_curves(small, dpeth=2)


def test_load_layers(small):
    runs = fd.load(small)
    rid = runs.loc[runs.depth == 2, "run_id"].iloc[0]
    lay = st.load_layers(small, run_id=rid, attach=[])
    assert list(lay.columns) == ["run_id", "step", "layer", "grad_norm", "dead", "act_sq",
                                 "saturated"]  # fmt: skip
    assert lay["saturated"].isna().all()  # relu: dead units, not saturation
    assert sorted(lay["layer"].unique()) == [0, 1, 2]
    out = lay[lay.layer == 2]
    assert out["dead"].isna().all() and out["act_sq"].isna().all()
    assert out["grad_norm"].notna().sum() == 20
    hidden0 = lay[(lay.layer == 0) & (lay.step == 0)]
    assert len(hidden0) == 1 and np.isfinite(hidden0["dead"].iloc[0])


def test_load_params_equal_a_fresh_training(small):
    runs = fd.load(small)
    row = runs.iloc[9]
    params = st.load_params(small, row["run_id"])
    cfg = st.Store(small).grid()[9]
    fresh = fd.train(cfg).final_params
    assert len(params) == len(fresh) == row["depth"] + 1
    for (W, b), (W2, b2) in zip(params, fresh, strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    with np.load(small / "params" / "part-00000.npz", allow_pickle=False) as z:
        assert f"{runs.run_id[0]}/W0" in z.files
    with pytest.raises(KeyError):
        st.load_params(small, "0" * 16)


def test_load_rejects_a_non_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a fastdepth store"):
        fd.load(tmp_path)


def test_summary_table(small):
    runs = fd.load(small)
    assert group_keys(runs) == ["dataset", "depth"]
    t = summary_table(runs)
    assert len(t) == 4 and (t["n_runs"] == 3).all()
    assert t[["dataset", "depth"]].values.tolist() == [
        ["circle", 1], ["circle", 2], ["rings", 1], ["rings", 2]]  # fmt: skip
    g = runs[(runs.dataset == "rings") & (runs.depth == 2)]
    m, _, ci, n = fd.metrics.mean_ci(g["final_test_acc"])
    row = t.iloc[3]
    assert row["test_acc"] == m and row["test_acc_ci"] == ci
    text = format_text(t)
    assert "test acc" in text and "±" in text and "rings" in text
    md = format_markdown(t)
    assert md.startswith("| dataset | depth |")
    csv = pd.read_csv(small / "summary.csv")
    assert csv["n_runs"].tolist() == [3, 3, 3, 3]


def test_summary_groups_by_other_varying_axes():
    runs = pd.DataFrame({"dataset": ["xor"] * 4, "depth": [2] * 4, "width": [8] * 4,
                         "widths": ["8,8"] * 4, "lr": [0.1, 0.1, 0.2, 0.2], "seed": [0, 1] * 2,
                         "final_train_acc": [1.0, 0.5, 1.0, 1.0],
                         "final_test_acc": [1.0, 0.5, 1.0, 1.0]})  # fmt: skip
    assert group_keys(runs) == ["dataset", "depth", "lr"]
    runs["width"] = [8, 8, 16, 16]
    runs["widths"] = ["8,8", "8,8", "16,16", "16,16"]
    assert group_keys(runs) == ["dataset", "depth", "width", "lr"]


def test_uncommitted_chunk_is_invisible(small, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(small), str(copy)], check=True)
    (copy / "done" / "chunk-00001").unlink()
    with pytest.warns(st.StoreIncompleteWarning, match=r"2 of 3 chunks \(7 of 12 runs\)"):
        runs = fd.load(copy)
    assert runs["chunk"].tolist() == [0] * 5 + [2] * 2
    with pytest.warns(st.StoreIncompleteWarning, match="chunk 1: not committed"):
        assert set(fd.load_curves(copy)["run_id"]) == set(runs["run_id"])


def test_chunk_missing_a_part_is_redone_on_resume(small, tmp_path, capsys):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(small), str(copy)], check=True)
    (copy / "layers" / "part-00001.parquet").unlink()
    with pytest.warns(st.StoreCorruptWarning, match=r"chunk 1 \(runs 5..10\): no layers/part"):
        assert st.Store(copy).done_chunks() == [0, 2]
    capsys.readouterr()
    assert sweep.main(["--resume", str(copy), "--quiet"]) == 0
    assert "chunk 1 (runs 5..10): no layers/part" in capsys.readouterr().err  # on the console
    assert st.Store(copy).done_chunks() == [0, 1, 2]
    a, b = copy / "layers" / "part-00001.parquet", small / "layers" / "part-00001.parquet"
    assert a.read_bytes() == b.read_bytes()


def _as_schema_1(store_dir):
    """Turn a store into one written before schema 2 (no residual_init / collapse columns).

    Its markers become the old ones too (no part digests: those came later).
    """
    new_cols = ("residual_init", "final_output_std", "collapsed")
    for part in (store_dir / "runs").glob("*.parquet"):
        t = pq.read_table(part)
        pq.write_table(t.drop_columns(list(new_cols)), part)
    for marker in (store_dir / "done").iterdir():
        old = {k: v for k, v in json.loads(marker.read_text()).items()
               if k in ("chunk", "runs", "written")}  # fmt: skip
        marker.write_text(json.dumps(old) + "\n")
    m = json.loads((store_dir / "manifest.json").read_text())
    m["schema_version"] = 1
    del m["integrity"]
    (store_dir / "manifest.json").write_text(json.dumps(m))


def test_store_of_an_older_schema_loads_but_is_not_extended(small, tmp_path, capsys):
    old = tmp_path / "old"
    subprocess.run(["cp", "-r", str(small), str(old)], check=True)
    (old / "done" / "chunk-00002").unlink()  # an unfinished sweep
    _as_schema_1(old)
    with pytest.warns(st.StoreIncompleteWarning, match="chunk 2: not committed"):
        runs = fd.load(old)
    assert len(runs) == 10 and runs["collapsed"].isna().all()
    assert summary_table(runs)["collapsed"].eq(0).all()
    capsys.readouterr()
    assert sweep.main(["--resume", str(old), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        "schema version 1" in err
        and f"writes version {st.SCHEMA_VERSION}" in err
        and "new --out" in err
    )
    assert st.Store(old).done_chunks() == [0, 1]  # nothing was written


def test_sweep_crosses_residual_inits(tmp_path):
    out = tmp_path / "res"
    assert run_sweep(out, "--datasets", "xor", "--depths", "5", "--seeds", "2", "--residual",
                     "--residual-init", "none,zero,scaled") == 0  # fmt: skip
    runs = fd.load(out)
    assert runs["residual_init"].tolist() == ["none"] * 2 + ["zero"] * 2 + ["scaled"] * 2
    assert runs["run_id"].nunique() == 6
    assert "residual_init" in group_keys(runs)


def test_sweep_refuses_bad_residual_inits(tmp_path, capsys):
    assert run_sweep(tmp_path / "a", "--residual", "--residual-init", "zeros") == 2
    assert "unknown residual_init 'zeros'; did you mean 'zero'?" in capsys.readouterr().err
    assert run_sweep(tmp_path / "b", "--residual-init", "zero") == 2
    assert "only applies to residual networks" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------- atomicity


def test_crash_between_tmp_write_and_rename_leaves_no_visible_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "s"
    real_replace = os.replace

    def crash_on_curves(src, dst):
        if "curves" in str(dst) and str(dst).endswith("part-00001.parquet"):
            assert os.path.exists(src) and ".tmp-" in str(src)  # fully written, not renamed
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_curves)
    # an I/O error is one "error:" line with the resume command (exit 2), not a traceback
    assert run_sweep(out, "--depths", "1,2", "--seeds", "2", "--chunk-size", "2") == 2
    assert "simulated crash" in capsys.readouterr().err
    monkeypatch.setattr(os, "replace", real_replace)
    assert not (out / "curves" / "part-00001.parquet").exists()
    assert (out / "runs" / "part-00001.parquet").exists()  # chunk 1 is half written...
    assert st.Store(out).done_chunks() == [0]  # ...but not committed
    assert not list(out.rglob("*.tmp-*"))
    with pytest.warns(st.StoreIncompleteWarning, match="chunks 1, 2, 3: not committed"):
        assert fd.load(out)["chunk"].tolist() == [0, 0]
    assert not (out / st.LOCK).exists()  # released on the way out

    # a SIGKILL would have left the temporary file: resume deletes it and redoes chunk 1
    stray = out / "curves" / "part-00001.parquet.tmp-999999"
    stray.write_bytes(b"half a parquet file")
    assert run_sweep(out, "--depths", "1,2", "--seeds", "2", "--chunk-size", "2") == 0
    assert not stray.exists()
    ref = tmp_path / "ref"
    assert run_sweep(ref, "--depths", "1,2", "--seeds", "2", "--chunk-size", "2") == 0
    pd.testing.assert_frame_equal(
        fd.load(out, timing=False), fd.load(ref, timing=False), check_exact=True
    )
    for table in ("runs", "curves", "layers", "params"):
        for a in sorted((ref / table).iterdir()):
            assert a.read_bytes() == (out / table / a.name).read_bytes(), a


def test_atomic_write_replaces_whole_files(tmp_path):
    p = tmp_path / "f.txt"
    st.atomic_write_text(p, "old")
    with pytest.raises(RuntimeError):

        def boom(f):
            f.write(b"new, half")
            raise RuntimeError("crash while writing")

        st.atomic_write(p, boom)
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.txt"]


# ----------------------------------------------------------------------------- the lock


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid is free
    return proc.pid


def write_lock(d, pid, host=None):
    (d / st.LOCK).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname()}))


def test_lock_excludes_a_second_writer(tmp_path):
    with st.StoreLock(tmp_path) as lock:
        owner = json.loads((tmp_path / st.LOCK).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        with pytest.raises(st.StoreLockedError, match=f"pid {os.getpid()}"):
            st.StoreLock(tmp_path).acquire()
        assert lock.stale is None
    assert not (tmp_path / st.LOCK).exists()


def test_live_lock_refuses_with_pid_and_advice(tmp_path, live_pid):
    write_lock(tmp_path, live_pid)
    with pytest.raises(st.StoreLockedError) as e:
        st.StoreLock(tmp_path).acquire()
    msg = str(e.value)
    assert f"pid {live_pid}" in msg and f"kill {live_pid}" in msg and "sweep.lock" in msg
    assert json.loads((tmp_path / st.LOCK).read_text())["pid"] == live_pid  # untouched


def test_stale_lock_is_taken_over(tmp_path):
    pid = dead_pid()
    write_lock(tmp_path, pid)
    with st.StoreLock(tmp_path) as lock:
        assert lock.stale["pid"] == pid
        assert json.loads((tmp_path / st.LOCK).read_text())["pid"] == os.getpid()
    assert not (tmp_path / st.LOCK).exists()


def test_reused_pid_is_stale(tmp_path):
    me = _proc_stat(os.getpid())
    if me is None:
        pytest.skip("no /proc")
    lock = {"pid": os.getpid(), "host": socket.gethostname(), "start_time": me[1] - 1}
    (tmp_path / st.LOCK).write_text(json.dumps(lock))
    with st.StoreLock(tmp_path) as lk:
        assert lk.stale["pid"] == os.getpid()


def test_lock_of_another_host_is_refused(tmp_path):
    write_lock(tmp_path, dead_pid(), host="some-other-host")
    with pytest.raises(st.StoreLockedError, match="some-other-host"):
        st.StoreLock(tmp_path).acquire()


def test_sweep_refuses_a_locked_store_and_takes_over_a_stale_one(tmp_path, live_pid, capsys):
    out = tmp_path / "s"
    args = ["--depths", "1", "--seeds", "2"]
    assert run_sweep(out, *args) == 0
    write_lock(out, live_pid)
    assert run_sweep(out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and f"pid {live_pid}" in err and "\n" not in err
    write_lock(out, dead_pid())
    assert sweep.main([*TINY[:-1], "--out", str(out), *args]) == 0  # not quiet
    assert "took over the stale lock" in capsys.readouterr().err
    assert not (out / st.LOCK).exists()


# ----------------------------------------------------------------------------- grid checks


def test_grid_mismatch_names_the_field(tmp_path, capsys):
    out = tmp_path / "s"
    assert run_sweep(out, "--depths", "1", "--seeds", "2") == 0
    capsys.readouterr()
    assert run_sweep(out, "--depths", "1,2", "--seeds", "2") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "depth: 1 -> [1, 2]" in err
    assert run_sweep(out, "--depths", "1", "--seeds", "3", "--activations", "tanh") == 2
    err = capsys.readouterr().err
    assert "seed: [0, 1] -> 0..2 (3 values)" in err and "activation: 'relu' -> 'tanh'" in err


def test_grid_differences_on_equal_field_values():
    a = Grid({"depth": [1, 2], "lr": [0.1, 0.2]}, zip=[("depth", "lr")])
    b = Grid({"depth": [1, 2], "lr": [0.1, 0.2]})
    assert st.grid_differences(a, b) == ["zip: [('depth', 'lr')] -> []"]
