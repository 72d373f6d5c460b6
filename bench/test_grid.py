"""The shape grid and the report's table: FLOP counts, cell specs and formatting.

No timing here: these check that the grid counts the FLOPs the trainer does (the same
formula as ``run_flops`` in kernels/layout.py), that its cells cover the ranges it promises,
that each cell trains without diverging, and that the tables print every figure.
"""

from __future__ import annotations

import pytest
from fastdepth.kernels.layout import run_flops

from bench import grid, report
from bench.roof import Roof


@pytest.mark.parametrize("cell", grid.CELLS, ids=lambda c: c.name)
def test_cell_flops_are_the_trainers(cell):
    runs = cell.runs(seeds=2, epochs=3)
    r = runs[0]
    want = 2 * run_flops(r.layout().table, r.n_train, r.n_test, r.epochs, 0, include_eval=False)
    assert grid.gflop(runs) * 1e9 == pytest.approx(want)
    spec = cell.peer_spec(0.25)
    assert spec["batch"] == (cell.batch or cell.n) and 4 <= spec["steps"] <= grid.PEER_MAX_STEPS
    per_step = r.layout().flops_per_sample * spec["batch"] * spec["seeds"]
    assert grid.peer_gflop(cell, spec) * 1e9 == pytest.approx(per_step * spec["steps"])


def test_cells_cover_the_promised_ranges():
    cells = grid.CELLS
    assert {c.activation for c in cells} == {"relu", "tanh", "gelu"}
    assert {c.optimizer for c in cells} == {"sgd", "adam"}
    assert {c.batch for c in cells} == {None, 16, 64}
    assert min(c.width for c in cells) == 8 and max(c.width for c in cells) == 256
    assert min(c.n for c in cells) == 200 and max(c.n for c in cells) == 20000
    assert min(c.depth for c in cells) == 1 and max(c.depth for c in cells) == 16
    assert 10 <= len(cells) <= 15


@pytest.mark.parametrize("cell", grid.CELLS[::4], ids=lambda c: c.name)
def test_cells_train_without_diverging(cell):
    import fastdepth as fd

    res = fd.train_many(cell.runs(seeds=1, epochs=1), threads=1)
    assert [r.status for r in res] == ["ok"]


def _roof():
    return Roof("test CPU", 64, {(d, t): 100.0 for d in ("float64", "float32") for t in (1, 2)})


def test_grid_table_shows_shares_and_peer_ratios():
    row = {"cell": {"name": "c"}, "gflop": 10.0, "reference": 1.0, "fd_1": 50.0,
           "fd_1_share": 0.5, "fd_2": 90.0, "fd_2_share": 0.45, "jax_1": 10.0, "torch_1": 25.0,
           "jax_2": 30.0, "torch_2": 20.0}  # fmt: skip
    lines = grid.format_table({"cores": 2, "rows": [row]})
    want = "| c | 10.0 | 50.0 (50%) | 90.0 (45%) | 1.00 | 10.0 | 25.0 | 30.0 | 20.0 | 2.0x | 3.0x |"
    assert lines[2] == want


def test_report_table_shows_the_share_of_the_roof():
    rows = [report.Row("a", "W1 thing", lambda: None, 100.0, "float64", 2),
            report.Row("b", "hidden", lambda: None, 1.0, table=False)]  # fmt: skip
    lines = report.format_table(rows, {"a": 2.0, "b": 1.0}, _roof())
    assert lines[2:] == ["| W1 thing | 2.0 s | 50.0 | 50.0% |"]
