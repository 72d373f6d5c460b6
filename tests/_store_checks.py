"""Store comparisons shared by the sweep and the distributed tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import fastdepth as fd
from fastdepth import store as st


def assert_same_store(a: Path, b: Path) -> None:
    """Runs, curves, layers and params equal (values and bytes); markers complete."""
    for x in (a, b):
        assert st.Store(x).done_chunks() == list(range(len(st.Store(x).chunks())))
        assert not list(x.rglob("*.tmp-*")) and not (x / st.LOCK).exists()
    pd.testing.assert_frame_equal(fd.load(a, timing=False), fd.load(b, timing=False),
                                  check_exact=True)  # fmt: skip
    pd.testing.assert_frame_equal(fd.load_curves(a), fd.load_curves(b), check_exact=True)
    pd.testing.assert_frame_equal(st.load_layers(a), st.load_layers(b), check_exact=True)
    for table in ("runs", "curves", "layers", "params"):
        names = sorted(p.name for p in (a / table).iterdir())
        assert names == sorted(p.name for p in (b / table).iterdir())
        for name in names:
            assert (a / table / name).read_bytes() == (b / table / name).read_bytes(), name
