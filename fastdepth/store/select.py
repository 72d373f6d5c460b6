"""Which runs of a runs table a set of filters (``depth=4, lr=0.01``) names.

Filters on float columns match the stored values within a relative tolerance
(:data:`FLOAT_RTOL`), so ``lr=np.logspace(-3, 0, 7)[1]`` finds the run whose rate was
written ``1e-3 * 10**0.5`` and ``lr=0.00316`` (as a figure prints it) finds it too. A value
that matches two stored values is refused (give more digits); filters that match no run
at all warn (:class:`NoMatchWarning`), naming the values the store has.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..kernels.vocab import unknown_message
from .schema import RUNS_SCHEMA

__all__ = ["FLOAT_RTOL", "NoMatchWarning", "check_columns", "matching", "values_text"]

#: Relative tolerance of a float filter: half a unit in the third significant digit, so a
#: value read off a figure or a table (three digits) matches, and rounding noise
#: (``10 ** -2.5`` against ``np.logspace(-3, 0, 7)[1]``) does too.
FLOAT_RTOL = 5e-3


class NoMatchWarning(UserWarning):
    """Filters given to a loader match no run of the store; the message lists its values."""


def check_columns(names: Sequence[str] | Mapping[str, Any], valid: Sequence[str], what: str):
    """``ValueError`` with a suggestion for a name that is not in ``valid``."""
    for name in names:
        if name not in valid:
            raise ValueError(unknown_message(what, name, valid))


def _listed(value: Any) -> list[Any] | None:
    """A filter value as a list of values, or None for a single value."""
    if isinstance(value, list | tuple | set | frozenset | range | np.ndarray | pd.Series):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return None


def _widths(value: Any) -> Any:
    """``widths=[16, 16]`` (one network) or ``widths=[[16, 16], "8,8"]`` (any of) -> text."""
    if isinstance(value, list | tuple) and value:
        if all(isinstance(v, int | np.integer) for v in value):
            return ",".join(str(int(v)) for v in value)
        return [v if isinstance(v, str) else ",".join(map(str, v)) for v in value]
    return value


def _snap(name: str, wanted: list[Any], stored: np.ndarray) -> list[float]:
    """The stored floats each wanted value stands for (within :data:`FLOAT_RTOL`)."""
    out = []
    finite = np.unique(stored[np.isfinite(stored)])
    for v in wanted:
        if v is None or not isinstance(v, int | float) or isinstance(v, bool):
            out.append(v)
            continue
        v = float(v)
        if not math.isfinite(v):
            out.append(v)
            continue
        near = finite[np.abs(finite - v) <= FLOAT_RTOL * np.maximum(np.abs(finite), abs(v))]
        if near.size > 1:
            shown = ", ".join(repr(float(x)) for x in near)
            raise ValueError(
                f"{name}={v!r} is within {FLOAT_RTOL:g} (relative) of several stored values "
                f"({shown}); give it with more digits"
            )
        out.append(float(near[0]) if near.size else v)
    return out


def matching(table: pa.Table, filters: Mapping[str, Any]) -> np.ndarray:
    """Boolean mask of the rows of a runs ``table`` that every filter matches.

    ``depth=4`` is equality, ``depth=[2, 4]`` membership, ``noise=None`` "is null";
    floats match within :data:`FLOAT_RTOL` (see the module docstring).
    """
    check_columns(filters, RUNS_SCHEMA.names, "runs column")
    mask = np.ones(table.num_rows, dtype=bool)
    for name, value in filters.items():
        col = table.column(name)
        if name == "widths":
            value = _widths(value)
        if value is None:
            hit = col.is_null()
        else:
            many = _listed(value)
            wanted = many if many is not None else [value]
            if pa.types.is_floating(RUNS_SCHEMA.field(name).type):
                stored = col.to_numpy(zero_copy_only=False).astype(np.float64)
                wanted = _snap(name, wanted, stored)
            vals = [v for v in wanted if v is not None]
            hit = pc.is_in(col, value_set=pa.array(vals, type=col.type)) if vals else None
            if any(v is None for v in wanted):
                hit = col.is_null() if hit is None else pc.or_(hit, col.is_null())
        mask &= np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
    return mask


def values_text(table: pa.Table, name: str, limit: int = 8) -> str:
    """The distinct values of a runs column, for a message: ``'1, 2, 4'``."""
    vals = pc.unique(table.column(name)).to_pylist()
    vals = sorted((v for v in vals if v is not None), key=lambda x: (str(type(x)), x))
    text = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in vals[:limit])
    return text + (f", ... ({len(vals)} in all)" if len(vals) > limit else "") or "(none)"


def warn_no_match(table: pa.Table, filters: Mapping[str, Any], where: str, stacklevel: int):
    """:class:`NoMatchWarning` for filters that select nothing: which and what there is
    (``stacklevel`` as :func:`warnings.warn` takes it, counted from this function)."""
    alone = [k for k in filters if not matching(table, {k: filters[k]}).any()]
    asked = ", ".join(f"{k}={v!r}" for k, v in filters.items())
    if alone:
        why = "; ".join(f"no run has {k}={filters[k]!r} (values: {values_text(table, k)})"
                        for k in alone)  # fmt: skip
    else:
        why = "each filter matches some runs, but no run matches them all"
    warnings.warn(f"{where}: no run matches {asked}: {why}", NoMatchWarning,
                  stacklevel=stacklevel)  # fmt: skip
