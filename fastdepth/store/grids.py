"""How two grids differ, in words (for the error that refuses to mix them in one store)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..config import Grid
from .schema import CONFIG_COLUMNS

__all__ = ["grid_differences", "run_ids_digest"]


def run_ids_digest(grid: Grid) -> str:
    """SHA-256 of the grid's run ids in order: equal digests, equal runs."""
    return hashlib.sha256("\n".join(grid.run_ids()).encode()).hexdigest()


def _fmt_values(values: list[Any]) -> str:
    if len(values) == 1:
        return repr(values[0])
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if ints and len(values) > 2 and values == list(range(values[0], values[0] + len(values))):
        return f"{values[0]}..{values[-1]} ({len(values)} values)"
    if len(values) > 8:
        head = ", ".join(map(repr, values[:6]))
        return f"[{head}, ..., {values[-1]!r}] ({len(values)} values)"
    return "[" + ", ".join(map(repr, values)) + "]"


def _field_values(grid: Grid) -> dict[str, list[Any]]:
    """Field -> distinct values over the grid's runs, in order of first appearance."""
    seen: dict[str, dict[str, Any]] = {name: {} for name in CONFIG_COLUMNS}
    for run in grid.settings():  # each seed's runs have the same values but the seed
        for name, value in run.to_dict().items():
            seen[name].setdefault(json.dumps(value, sort_keys=True), value)
    out = {name: list(v.values()) for name, v in seen.items()}
    out["seed"] = grid.distinct("seed")
    return out


def grid_differences(old: Grid, new: Grid) -> list[str]:
    """Human-readable differences between two grids, e.g. ``"depth: [1, 2] -> [1, 2, 4]"``."""
    a, b = _field_values(old), _field_values(new)
    out = [
        f"{name}: {_fmt_values(a[name])} -> {_fmt_values(b[name])}"
        for name in CONFIG_COLUMNS
        if a[name] != b[name]
    ]
    if not out and old.zip != new.zip:
        out.append(f"zip: {old.zip} -> {new.zip}")
    if not out and len(old) != len(new):
        out.append(f"number of runs: {len(old)} -> {len(new)}")
    if not out:
        out.append(
            "same field values but different runs or run order (the combination of values "
            "differs, or a fastdepth version that changed run ids wrote the store)"
        )
    return out
