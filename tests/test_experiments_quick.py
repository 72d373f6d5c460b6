"""Smoke test of every finished study in ``experiments/``: its ``--quick`` grid runs to the end
in a subprocess and writes its figures and its results file (``summary.json``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
STUDIES = sorted(p.parent.name for p in EXPERIMENTS.glob("[0-9][0-9]_*/main.py"))


def test_every_study_folder_is_covered():
    assert len(STUDIES) >= 1, f"no studies found under {EXPERIMENTS}"


@pytest.mark.parametrize("study", STUDIES)
def test_quick_mode_writes_figures_and_results(study, tmp_path):
    script = EXPERIMENTS / study / "main.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{study} --quick failed:\n{proc.stdout}\n{proc.stderr}"
    committed = sorted(p.name for p in (EXPERIMENTS / study).glob("fig_*.png"))
    written = sorted(p.name for p in tmp_path.glob("fig_*.png"))
    assert written, f"{study} wrote no figure"
    # the quick grid draws the same figures as the full study (whose PNGs are committed)
    assert written == committed or not committed, f"{study}: {written} != {committed}"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["quick"] is True
    assert (tmp_path / "summary.md").read_text().strip()
