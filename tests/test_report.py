"""``python -m fastdepth.report``: real files from small real sweeps, and degenerate stores."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from _report_stores import STORES, TINY, build

from fastdepth import report, sweep

ALL = list(report.FIGURES)
# What a ReLU study without snapshots or sharpness draws (tanh units saturate, snapshots
# and sharpness are asked for).
NOT_HEATMAP = [n for n in ALL if n not in ("lr_heatmaps", "saturated_units",
                                           "units_over_training", "sharpness_curves",
                                           "stable_lr_vs_sharpness",
                                           "regions_vs_depth")]  # fmt: skip


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    return build(tmp_path_factory.getbasetemp() / "report_stores")


@pytest.fixture(scope="module")
def main_report(stores, tmp_path_factory):
    """The report of the main store, written once (PNG and SVG) into a separate directory."""
    out = tmp_path_factory.mktemp("main_report")
    assert report.main([str(stores["main"]), "--svg", "--out", str(out), "--quiet"]) == 0
    return out


def check_png(path: Path) -> None:
    img = mpimg.imread(path)  # raises on anything that is not a valid image
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    grey = img[..., :3].mean(axis=2)
    assert grey.var() > 1e-3, f"{path.name} looks blank"


def section(md: str, title: str) -> str:
    start = md.index(f"## {title}")
    end = md.find("\n## ", start + 1)
    return md[start : end if end > 0 else None]


def test_report_of_a_study(main_report):
    fig_dir = main_report / "figures"
    tag = "circle-rings__d1-2-4-6-8__s50".replace("4-6-8", "3").replace("s50", "s3")
    assert tag == "circle-rings__d1-2-3__s3"
    pngs = sorted(fig_dir.glob("*.png"))
    assert [p.name for p in pngs] == sorted(f"{n}__{tag}.png" for n in NOT_HEATMAP)
    for p in pngs:
        check_png(p)
        svg = p.with_suffix(".svg")
        root = ET.parse(svg).getroot()  # well-formed SVG
        assert root.tag.endswith("svg")
        assert "<dc:date>" not in svg.read_text()  # no timestamp: reproducible files
    md = (main_report / "report.md").read_text()
    for p in pngs:  # every figure embedded, with a relative link, and its SVG linked
        assert f"](figures/{p.name})" in md and f"](figures/{p.stem}.svg)" in md
    for title in ("Grid", "Summary across seeds", "Figures", "Could not draw"):
        assert f"## {title}" in md
    summary = section(md, "Summary across seeds")
    assert len(re.findall(r"^\| (circle|rings) \| [123] \| 3 \|", summary, re.M)) == 6
    skipped = section(md, "Could not draw")
    assert "**lr_heatmaps**: a single learning rate (0.05)" in skipped
    assert "**saturated_units**: saturated units are measured for tanh, sigmoid only" in skipped
    assert "**units_over_training**: no weight snapshots" in skipped
    assert "**sharpness_curves**: no sharpness measured" in skipped
    assert "**regions_vs_depth**: no run counted its linear regions" in skipped
    assert "accuracy_vs_depth" not in skipped  # drawn, with CIs (3 seeds, 3 depths)
    assert plt.get_fignums() == []


def test_report_is_deterministic_and_cleans_up_its_old_figures(stores, tmp_path):
    store = tmp_path / "single"
    shutil.copytree(stores["single"], store)
    figs = store / "figures"
    figs.mkdir()
    (figs / "loss_curves__old-grid__d9__s1.png").write_bytes(b"stale")
    (figs / "my_notes.txt").write_text("keep me")
    assert report.main([str(store), "--quiet"]) == 0
    first = {p.name: p.read_bytes() for p in figs.glob("*.png")}
    assert "loss_curves__old-grid__d9__s1.png" not in first  # an earlier report's figure
    assert (figs / "my_notes.txt").read_text() == "keep me"  # not ours: left alone
    md = (store / "report.md").read_text()
    assert report.main([str(store), "--quiet"]) == 0
    assert {p.name: p.read_bytes() for p in figs.glob("*.png")} == first
    assert (store / "report.md").read_text() == md


def test_several_learning_rates_give_heatmaps_and_best_lr_figures(stores, tmp_path):
    rep = report.write_report(stores["lrs"], tmp_path)
    names = sorted(p.name for p in rep.figures)
    assert "lr_heatmaps__circle__d1-2-3__s2__lr2.png" in names
    # the store measured the sharpness: its stable rates are drawn over the lr grid too
    assert "stable_lr_vs_sharpness__circle__d1-2-3__s2__lr2.png" in names
    others = [n for n in names if not n.startswith(("lr_heatmaps", "stable_lr_vs_sharpness"))]
    assert others and all(n.endswith("__circle__d1-2-3__s2__lr-best.png") for n in others)
    for p in rep.figures:
        check_png(p)
    md = rep.markdown.read_text()
    best = section(md, "Best learning rate per depth")
    assert re.search(r"^\| 2 \| 0.05 \|", best, re.M)  # lr 100 diverged at depth 2
    assert "lr_heatmaps" not in dict(rep.skipped)


def test_every_run_diverged(stores, tmp_path):
    rep = report.write_report(stores["alldiv"], tmp_path)
    skipped = dict(rep.skipped)
    for name in ("loss_curves", "grad_norm_curves", "accuracy_vs_depth",
                 "decision_boundaries"):  # fmt: skip
        assert "diverged" in skipped[name], name
    # the state at initialisation can still be drawn
    assert any(p.name.startswith("layer_grad_profile") for p in rep.figures)
    md = rep.markdown.read_text()
    assert "every run diverged: no curves" in section(md, "Could not draw")
    assert "Drawn, but:" in md and "all 2 runs diverged" in md
    for p in rep.figures:
        check_png(p)


def test_single_seed_single_depth_single_lr(stores, tmp_path):
    rep = report.write_report(stores["single"], tmp_path)
    skipped = dict(rep.skipped)
    assert "single depth (2)" in skipped["accuracy_vs_depth"]
    assert "single learning rate" in skipped["lr_heatmaps"]
    assert any("single seed" in text for text, _ in rep.caveats)
    names = {p.name.split("__")[0] for p in rep.figures}
    assert {"loss_curves", "layer_grad_profile", "decision_boundaries"} <= names
    md = rep.markdown.read_text()
    assert "single depth" in md and "single seed" in md and "single learning rate" in md


def test_a_store_with_no_finished_chunk(stores, tmp_path):
    store = tmp_path / "empty"
    shutil.copytree(stores["single"], store)
    shutil.rmtree(store / "done")
    (store / "done").mkdir()
    assert report.main([str(store), "--quiet"]) == 0
    md = (store / "report.md").read_text()
    assert "0 of 1 runs finished" in md and "No finished runs yet" in md


def test_not_a_store(stores, tmp_path, capsys):
    assert report.main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    parent = stores["main"].parent  # a directory holding stores: name them
    assert report.main([str(parent)]) == 2
    err = capsys.readouterr().err
    assert "is not a fastdepth store" in err and "stores inside it: " in err and "main" in err
    assert report.main([]) == 2  # argparse: RUN_DIR is required


def test_cli_subprocess_and_the_sweep_hook(stores, tmp_path):
    store = tmp_path / "single"
    shutil.copytree(stores["single"], store)
    r = subprocess.run([sys.executable, "-m", "fastdepth.report", str(store)],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"report: {store / 'report.md'}" in r.stdout
    (store / "report.md").unlink()
    # python -m fastdepth.sweep ... --report: the sweep resumes (nothing left) then reports
    assert sweep.main([*STORES["single"], *TINY, "--out", str(store), "--report"]) == 0
    assert (store / "report.md").is_file()
    assert np.all([p.stat().st_size > 0 for p in (store / "figures").glob("*.png")])
