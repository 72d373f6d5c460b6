"""Picking the runs a panel shows and summarising them across seeds.

Panels are *conditions* (:func:`conditions`); diverged runs are left out of every curve
and statistic (:func:`not_diverged`); curves are summarised by their median and
inter-quartile range over seeds (:func:`iqr`, :func:`quantiles`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .grid import GridInfo, fmt_value, norm_value


def conditions(runs: pd.DataFrame, info: GridInfo) -> list[tuple[str, pd.DataFrame]]:
    """``[(label, runs of that condition), ...]`` in grid order."""
    if not info.conditions:
        label = " · ".join(fmt_value(k, runs[k].iloc[0]) for k in info.attrs)
        if "dataset" in info.fixed and "dataset" not in info.attrs:
            label = " · ".join([str(info.fixed["dataset"]), *([label] if label else [])])
        return [(label, runs)]
    keys = info.conditions
    frame = runs[keys].astype(object).map(norm_value)
    out = []
    for key, sub in frame.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        g = runs.loc[sub.index]
        label = " · ".join(fmt_value(k, v) for k, v in zip(keys, key, strict=True))
        for a in info.attrs:
            label += f" · {fmt_value(a, g[a].iloc[0])}"
        out.append((label, g))
    return out


def cond_values(g: pd.DataFrame, keys: Sequence[str]) -> list[Any]:
    """The values of the fields ``keys`` in the runs ``g`` of one condition."""
    return [norm_value(g[k].iloc[0]) for k in keys]


def not_diverged(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose status is not ``'diverged'``."""
    return runs[runs["status"] != "diverged"]


def collapsed(runs: pd.DataFrame) -> pd.Series:
    """Whether each run collapsed: finished, but its network's output is (almost) constant.

    All False for a runs table from before the ``collapsed`` column.
    """
    if "collapsed" not in runs.columns:
        return pd.Series(False, index=runs.index)
    return runs["collapsed"].fillna(False).astype(bool)


def step_matrix(long: pd.DataFrame, ids: Sequence[str], metric: str) -> pd.DataFrame:
    """``step x run`` matrix of one metric for the runs ``ids`` (steps with any value)."""
    sub = long[long["run_id"].isin(ids)]
    m = sub.pivot_table(index="step", columns="run_id", values=metric, aggfunc="first",
                        dropna=False)  # fmt: skip
    return m.dropna(how="all")


@contextlib.contextmanager
def quiet_nan() -> Iterator[None]:
    """Silence numpy's 'All-NaN slice' warnings (an empty step is simply not drawn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def iqr(v: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, 25% and 75% quantiles of ``v`` along ``axis``, NaNs skipped.

    Parameters
    ----------
    v : numpy.ndarray of float64
        Any shape; non-finite values must already be NaN.
    axis : int

    Returns
    -------
    (median, low, high) : tuple of numpy.ndarray
        ``v``'s shape without ``axis``; NaN where a slice is all NaN.
    """
    with np.errstate(all="ignore"), quiet_nan():
        q = np.nanpercentile(v, [25, 50, 75], axis=axis)
    return q[1], q[0], q[2]


def quantiles(m: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps, and the median, 25% and 75% over runs of a ``step x run`` matrix."""
    v = m.to_numpy(dtype=np.float64)
    return m.index.to_numpy(), *iqr(np.where(np.isfinite(v), v, np.nan), axis=1)


def thin(x: np.ndarray, n_max: int) -> np.ndarray:
    """Indices of at most ``n_max`` evenly spread points, first and last kept."""
    if len(x) <= n_max:
        return np.arange(len(x))
    return np.unique(np.linspace(0, len(x) - 1, n_max).round().astype(int))


def auto_log(values: Sequence[np.ndarray], ratio: float = 5.0) -> bool:
    """Whether a log axis suits ``values``: all positive, spanning more than ``ratio``."""
    v = np.concatenate([np.ravel(a) for a in values]) if values else np.empty(0)
    v = v[np.isfinite(v)]
    return bool(v.size and v.min() > 0 and v.max() / v.min() > ratio)


def bootstrap_ci(
    v: np.ndarray, *, level: float = 0.95, n_boot: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``v``.

    The interval lies within the range of ``v`` (so a share's stays in [0, 1] and a positive
    quantity's above 0), and the same ``v`` always gives the same interval (fixed ``seed``).

    Parameters
    ----------
    v : numpy.ndarray of float64, shape (n,)
        Finite values, one per seed; n >= 1.
    level : float
        Coverage, e.g. 0.95.
    n_boot : int
        Resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    (low, high) : tuple of float
    """
    v = np.asarray(v, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
