"""Watching a network learn: weight snapshots in the store, the units over training, the
animation and the report's --animate (issue #19, item 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _report_stores import STORES, build
from PIL import Image

import fastdepth as fd
import fastdepth.plots as fp
from fastdepth import report, sweep
from fastdepth import store as st


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "report_stores"
    return build(base, {"snap": STORES["snap"]})["snap"]


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    """A 1-D regression store with snapshots."""
    out = tmp_path_factory.mktemp("line") / "line"
    assert sweep.main(["--datasets", "regression1d", "--loss", "mse", "--depths", "2",
                       "--widths", "8", "--activations", "tanh", "--inits", "xavier",
                       "--optimizers", "adam", "--lrs", "0.01", "--epochs", "40",
                       "--n-train", "64", "--n-test", "32", "--seeds", "1",
                       "--snapshot-every", "4", "--threads", "1", "--out", str(out),
                       "--quiet"]) == 0  # fmt: skip
    return out


def test_snapshots_round_trip_through_the_store(snap):
    runs = fd.load(snap)
    assert (runs["snapshot_every"] == 5).all()
    grid = st.Store(snap).grid()
    res = fd.train_many(grid, threads=1)
    for r in res:
        s = fd.load_snapshots(snap, r.run_id)
        assert s.steps.tolist() == [0, 5, 10, 15, 20, 25, 30]
        np.testing.assert_array_equal(s.steps, r.snapshots.steps)
        np.testing.assert_array_equal(s.params, r.snapshots.params)
        assert s.params.dtype == np.float64
    with pytest.raises(KeyError, match="not in a finished chunk"):
        fd.load_snapshots(snap, "0" * 16)


def test_a_run_without_snapshots_says_how_to_get_them(tmp_path):
    out = tmp_path / "plain"
    assert sweep.main(["--datasets", "xor", "--depths", "1", "--widths", "4", "--epochs", "5",
                       "--n-train", "32", "--n-test", "32", "--seeds", "1", "--out", str(out),
                       "--quiet"]) == 0  # fmt: skip
    rid = fd.load(out)["run_id"].iloc[0]
    with pytest.raises(ValueError, match=r"no weight snapshots.*\(--snapshot-every K\)"):
        fd.load_snapshots(out, rid)
    with pytest.raises(fp.AnimationError, match="no weight snapshots"):
        fp.boundary_animation(out, rid)
    assert report.main([str(out), "--animate", rid[:6], "--quiet"]) == 2


def test_damaged_snapshots_are_caught_like_any_part(snap, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(snap, copy)
    part = copy / "params" / "part-00000.npz"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte inside the snapshot arrays
    part.write_bytes(bytes(data))
    rid = fd.load(copy)["run_id"].iloc[0]
    with pytest.raises(st.StoreCorruptError, match="params/part-00000.npz"):
        fd.load_snapshots(copy, rid)
    assert not st.verify(copy).sound


def test_unit_history_is_the_telemetry_at_the_evaluations(snap):
    runs = fd.load(snap)
    layers = fd.load_layers(snap, attach=[])
    for _, row in runs.iterrows():
        cfg = fp.boundaries._config_of(row)
        snaps = fd.load_snapshots(snap, row["run_id"])
        hist = fp.unit_history(cfg, snaps, cfg.data()[0])
        state = "dead" if row["activation"] == "relu" else "saturated"
        mine = layers[(layers["run_id"] == row["run_id"]) & layers[state].notna()]
        at = mine.pivot(index="step", columns="layer", values=state)
        for k, step in enumerate(snaps.steps):
            if step in at.index:  # every evaluation step (10, 20, 30) is a snapshot step
                np.testing.assert_array_equal(hist[k], at.loc[step].to_numpy())
        assert set(at.index) <= set(snaps.steps.tolist())


def _gif(path):
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")).copy())
        return frames


def test_boundary_animation_of_a_2d_and_a_1d_dataset(snap, line, tmp_path):
    runs = fd.load(snap)
    relu = runs[(runs["activation"] == "relu") & (runs["depth"] == 2)].iloc[0]
    out = tmp_path / "a.gif"
    anim = fp.boundary_animation(snap, relu["run_id"], out, fps=4)
    frames = _gif(out)
    assert len(frames) == 7 and len(anim._fastdepth_steps) == 7  # one per snapshot
    assert not np.array_equal(frames[0], frames[-1])  # the picture changes as it learns
    ax = anim._fig.axes[0]
    anim._fastdepth_frame(3)
    assert ax.get_title().startswith("step 15 of 30")
    loss_ax = next(a for a in anim._fig.axes if a.get_ylabel() == "loss")
    assert loss_ax.get_xlim() == (0.0, 30.0)
    # by run_index, and thinned to max_frames (first and last kept)
    anim2 = fp.boundary_animation(snap, int(relu["run_index"]), max_frames=3)
    assert anim2._fastdepth_steps.tolist() == [0, 15, 30]
    assert anim2.to_jshtml().count("data:image/png;base64") == 3  # a notebook plays it
    rid = fd.load(line)["run_id"].iloc[0]
    out1 = tmp_path / "line.gif"
    anim1 = fp.boundary_animation(line, rid, out1)
    assert len(_gif(out1)) == 11
    assert anim1._fig.axes[0].get_xlabel() == "x"  # the fitted function, not a map
    with pytest.raises(fp.AnimationError, match="write an animation as .gif or .mp4"):
        fp.boundary_animation(line, rid, tmp_path / "x.avi")
    with pytest.raises(fp.AnimationError, match="matches 0|no finished run"):
        fp.boundary_animation(line, "zz")


def test_report_animate_writes_and_links_the_gif(snap, tmp_path):
    runs = fd.load(snap)
    rid = runs.loc[runs["activation"] == "tanh", "run_id"].iloc[-1]
    assert report.main([str(snap), "--out", str(tmp_path), "--animate", rid[:8], "--quiet"]) == 0
    gif = tmp_path / "figures" / f"animation__{rid}.gif"
    assert gif.is_file() and len(_gif(gif)) == 7
    md = (tmp_path / "report.md").read_text()
    assert f"![training of run {rid}](figures/animation__{rid}.gif)" in md
    assert "## Training animations" in md and "### Dead / saturated units over training" in md
    # a report without --animate removes the animation it no longer writes
    assert report.main([str(snap), "--out", str(tmp_path), "--quiet"]) == 0
    assert not gif.exists()
    assert isinstance(pd.read_csv(snap / "summary.csv"), pd.DataFrame)
