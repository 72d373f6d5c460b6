"""Helpers shared by the experiment scripts: CLI, outputs, colours, figure style, statistics.

Every study folder has a ``main.py`` that does ``from _common import ...`` after putting this
folder on ``sys.path``. Conventions:

- ``--quick`` runs a tiny smoke grid (CI); the default is the full study.
- ``--out DIR`` is where figures (``fig_*.png``), ``summary.json`` (headline numbers, setup and
  wall time) and ``summary.md`` (the measured tables) go; default: the study's own folder.
  ``RESULTS.md`` in each folder is the hand-written reading of those numbers.
- One colour per depth, the same in every study (:func:`depth_color`); categories that are not
  depths use the Okabe-Ito palette (:data:`OKABE_ITO`). Both are colour-blind safe.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fastdepth.metrics import mean_ci  # noqa: E402

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
# Depth -> position on viridis, piecewise linear in log2(depth); more room between 4 and 8
# (the original study's depths) than a plain log scale gives. Depth >= 64 is the light end.
_DEPTH_KNOTS = ((1, 0.0), (2, 0.16), (4, 0.33), (8, 0.55), (16, 0.7), (32, 0.82), (64, 0.92))

STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.35,
    "axes.axisbelow": True,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "errorbar.capsize": 2.5,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
}
plt.rcParams.update(STYLE)


def depth_color(depth: float) -> tuple[float, float, float, float]:
    """Colour of a network with ``depth`` hidden layers, identical across all studies.

    Viridis (the palest yellow left out) at a position piecewise linear in ``log2(depth)``
    (:data:`_DEPTH_KNOTS`): shallow = dark purple, deep = yellow-green; monotone in
    lightness, so the order survives grey-scale printing and colour-vision deficiencies.
    """
    kd, kx = zip(*_DEPTH_KNOTS, strict=True)
    x = np.interp(math.log2(max(float(depth), 1.0)), np.log2(kd), kx)
    return matplotlib.colormaps["viridis"](float(x))


def parse_args(doc: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``--quick``, ``--out`` (default: the calling study's folder) and ``--threads``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny smoke grid (CI), seconds")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: study folder)")
    p.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    return p.parse_args(argv)


def out_dir(args: argparse.Namespace, study_file: str) -> Path:
    out = args.out if args.out is not None else Path(study_file).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    return out


class Clock:
    """Wall time of the named stages of a study."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.stages: dict[str, float] = {}
        self._last = self.t0

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.stages[name] = round(now - self._last, 2)
        self._last = now
        print(f"[{name}] {self.stages[name]:.1f} s", flush=True)
        return self.stages[name]

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self.t0, 2)


def save(fig: plt.Figure, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_plain(v) for v in x.tolist()]
    if isinstance(x, np.integer | np.bool_):
        return x.item()
    if isinstance(x, float | np.floating):
        x = float(x)
        return round(x, 6) if math.isfinite(x) else None
    return x


def write_summary(out: Path, summary: dict, tables: dict[str, pd.DataFrame]) -> None:
    """``summary.json`` (headline numbers) and ``summary.md`` (every table, as Markdown)."""
    (out / "summary.json").write_text(json.dumps(_plain(summary), indent=2) + "\n")
    parts = [f"# {summary.get('study', 'summary')}\n", "Generated by main.py; do not edit.\n"]
    if summary.get("quick"):
        parts.append("**Quick (smoke-test) grid: these numbers mean nothing.**\n")
    for title, df in tables.items():
        parts += [f"## {title}\n", md_table(df), ""]
    (out / "summary.md").write_text("\n".join(parts))


def md_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub Markdown table (floats to ``digits`` significant digits)."""

    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            if not math.isfinite(v):
                return "-"
            return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
        return str(v)

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def ci_table(
    df: pd.DataFrame,
    by: Sequence[str],
    metrics: Iterable[str],
    count: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean and 95% t confidence half-width (``<m>_ci``) of ``metrics`` per group of ``by``.

    ``count`` names boolean columns (``diverged``, ``collapsed``) counted per group.
    Non-finite values (e.g. diverged runs) are skipped, as in :func:`fastdepth.metrics.mean_ci`.
    """
    counts = [count] if isinstance(count, str) else list(count or ())
    rows = []
    for key, g in df.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key, strict=True))
        row["n"] = len(g)
        for c in counts:
            row[c] = int(g[c].sum())
        for m in metrics:
            mean, _, half, _ = mean_ci(g[m].to_numpy(dtype=float))
            row[m] = mean
            row[f"{m}_ci"] = half
        rows.append(row)
    return pd.DataFrame(rows)


def pm_table(
    table: pd.DataFrame, keys: Sequence[str], metrics: Iterable[str], digits: int = 3
) -> pd.DataFrame:
    """A :func:`ci_table` for reading: ``mean ± half-width`` strings, one column per metric."""
    out = table[list(keys)].copy()
    for m in metrics:
        out[m] = [
            "-"
            if not math.isfinite(v)
            else f"{v:.{digits}g} ± {c:.2g}"
            if math.isfinite(c)
            else f"{v:.{digits}g}"
            for v, c in zip(table[m], table[f"{m}_ci"], strict=True)
        ]
    return out


def runs_frame(results: Sequence, keys: Sequence[str], extra: Iterable[str] = ()) -> pd.DataFrame:
    """One row per run: the config fields ``keys`` plus every scalar summary metric."""
    rows = []
    for r in results:
        row = {k: getattr(r.config, k) for k in keys}
        row.update({k: v for k, v in r.summary.items() if np.isscalar(v)})
        for name in extra:
            row[name] = r.summary[name]
        rows.append(row)
    return pd.DataFrame(rows)


def curve_bands(results: Sequence, column: str, by: Sequence[str]) -> dict:
    """Median and IQR of one curve column over the runs sharing the config fields ``by``.

    Returns ``{key: (steps, median, q25, q75)}`` with ``key`` the value of ``by`` (a tuple
    if several fields). Diverged runs are left out; steps where the column is NaN skipped.
    """
    groups: dict[Any, list[np.ndarray]] = {}
    steps: dict[Any, np.ndarray] = {}
    for r in results:
        if r.status != "ok":
            continue
        key = tuple(getattr(r.config, k) for k in by)
        key = key[0] if len(by) == 1 else key
        c = r.curves[["step", column]].dropna()
        groups.setdefault(key, []).append(c[column].to_numpy())
        steps[key] = c["step"].to_numpy()
    out = {}
    for key, rows in groups.items():
        q25, q50, q75 = np.percentile(np.vstack(rows), [25, 50, 75], axis=0)
        out[key] = (steps[key], q50, q25, q75)
    return out


def grid_points(box: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An ``n x n`` grid over a 2-D box: ``(xs, ys, points (n*n, 2))``."""
    xs = np.linspace(box[0, 0], box[0, 1], n)
    ys = np.linspace(box[1, 0], box[1, 1], n)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([gx.ravel(), gy.ravel()])


def decision_panel(ax: plt.Axes, result, n: int = 200) -> None:
    """Decision boundary (P(class 1) shading and the 0.5 contour) of a trained 2-D classifier,
    with the training points on top."""
    from fastdepth import datasets

    cfg = result.config
    box = datasets.bounding_box(cfg.dataset, cfg.noise, **cfg.dataset_kwargs)
    xs, ys, pts = grid_points(box, n)
    logits = result.predict_logits(pts).reshape(n, n)
    prob = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
    ax.contourf(xs, ys, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
    ax.contour(xs, ys, prob, levels=[0.5], colors="k", linewidths=0.8)
    X, y, _, _ = cfg.data()
    ax.scatter(X[y == 0, 0], X[y == 0, 1], s=2, c=OKABE_ITO[0], marker="o", linewidths=0)
    ax.scatter(X[y == 1, 0], X[y == 1, 1], s=2, c=OKABE_ITO[1], marker="^", linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    ax.grid(False)
