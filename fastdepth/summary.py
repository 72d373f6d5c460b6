"""The across-seeds summary of a sweep: one row per dataset x depth (x every other varying axis).

Built from the runs table (:func:`fastdepth.store.load`); rendered as aligned text for the
terminal, and saved as CSV (numbers) and Markdown (formatted) in the store::

    runs = fastdepth.load("runs/my-sweep")
    table = summary_table(runs)
    print(format_text(table))
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import mean_ci
from .store import CONFIG_COLUMNS, atomic_write_text

__all__ = ["format_markdown", "format_text", "group_keys", "legend_text", "summary_table",
           "write_summary"]  # fmt: skip

# Always grouped by these, even when they do not vary, so every table reads the same way.
ALWAYS = ("dataset", "depth")
# Repetitions, averaged over rather than grouped by.
REPEATS = ("seed",)
# Other representations of the architecture (widths "16,16" follows from depth and width;
# width is max(widths) for non-uniform widths): keys only if they add information.
DERIVED = ("width", "widths")

# (column, header, kind) of the rendered table; kinds select the number format.
_DISPLAY = (
    ("n_runs", "n", "int"),
    ("train_acc", "train acc", "ci"),
    ("test_acc", "test acc", "ci"),
    ("final_loss", "loss", "g3"),
    ("grad_norm_mean", "|g| mean", "g3"),
    ("grad_norm_std", "|g| std", "g3"),
    ("grad_norm_cv", "|g| cv", "f2"),
    ("up_fraction", "up", "f2"),
    ("tv_ratio", "tv", "f2"),
    ("dead_frac_init", "dead@0", "f2"),
    ("dead_frac_end", "dead@end", "f2"),
    ("born_dead", "born dead", "int"),
    ("saturated_frac_init", "sat@0", "f2"),
    ("saturated_frac_end", "sat@end", "f2"),
    ("born_saturated", "born sat", "int"),
    ("sharpness_init", "λ@0", "g3"),
    ("sharpness_max", "λ max", "g3"),
    ("sharpness_final", "λ@end", "g3"),
    ("eos_fraction", "EoS", "f2"),
    ("lr_effective", "lr eff", "g3"),
    ("regions_init", "regions@0", "count"),
    ("regions_final", "regions@end", "count"),
    ("collapsed", "collapsed", "int"),
    ("diverged", "diverged", "int"),
)
# Columns of one unit measure (the activation's, vocab.Activation.units): shown only when
# some run of the table is measured that way (the ReLU family: dead; tanh, sigmoid:
# saturated), with their part of the legend.
UNIT_COLUMNS = {
    "dead": ("dead_frac_init", "dead_frac_end", "born_dead"),
    "saturated": ("saturated_frac_init", "saturated_frac_end", "born_saturated"),
}
# Columns shown only when some run measured them (means over seeds of finite values):
# the sharpness telemetry (sharpness_every > 0), the rate of lr_rule = 'sharpness', the
# linear-region counts (count_regions).
OPTIONAL_COLUMNS = {
    "sharpness": ("sharpness_init", "sharpness_max", "sharpness_final", "eos_fraction"),
    "lr_rule": ("lr_effective",),
    "regions": ("regions_init", "regions_final"),
}
_LEGEND_PARTS = (
    (None, "n = runs (seeds) per row; acc = final train / test accuracy, mean ± 95% CI over "
     "seeds (Student t, diverged runs excluded); loss = final train loss; |g| = total "
     "gradient norm over training (mean, std, cv = std/mean), averaged over seeds; up = "
     "share of steps where the loss rose; tv = total variation / net decrease of the loss "
     "(1 = monotone);"),
    ("dead", "dead@0 / dead@end = share of dead hidden units (ReLU family: pre-activation "
     "<= 0 on every training input) at init / end; born dead = runs with a fully dead hidden "
     "layer at init;"),
    ("saturated", "sat@0 / sat@end = share of saturated hidden units (tanh: |h| > 0.99, "
     "sigmoid: |2h - 1| > 0.99, on every training input) at init / end; born sat = runs "
     "with a fully saturated hidden layer at init;"),
    ("sharpness", "λ@0 / λ max / λ@end = sharpness (top Hessian eigenvalue of the whole "
     "training set's loss) at init, its largest and its last value; EoS = share of the "
     "measurements at the edge of stability (λ >= 1.9 / lr);"),
    ("lr_rule", "lr eff = the rate used: lr, or lr / λ@0 for lr_rule sharpness;"),
    ("regions", "regions@0 / regions@end = linear regions of the initial / final network "
     "(--count-regions: exact along the data range or the box's diagonal, or estimated on a "
     "grid over the box), mean over seeds (diverged runs excluded at the end);"),
    (None, "collapsed = runs that ended with a finite loss but the same output for every "
     "training input; diverged = runs stopped by a non-finite loss."),
)  # fmt: skip
LEGEND = " ".join(text for _, text in _LEGEND_PARTS)


def legend_text(units: Sequence[str] = ("dead", "saturated", "regions")) -> str:
    """The legend of a summary table that shows the columns of ``units``: unit measures
    (``dead``, ``saturated``) and ``regions``."""
    return " ".join(text for u, text in _LEGEND_PARTS if u is None or u in units)


def shown_units(table: pd.DataFrame) -> list[str]:
    """The unit measures (and optional groups) whose columns a summary table holds (see
    :data:`UNIT_COLUMNS`, :data:`OPTIONAL_COLUMNS`)."""
    groups = {**UNIT_COLUMNS, **OPTIONAL_COLUMNS}
    return [u for u, cols in groups.items() if cols[0] in table.columns]


def _measured(runs: pd.DataFrame, group: str) -> bool:
    """Whether some run has a value in the first column of an optional group."""
    if group == "lr_rule":
        return "lr_rule" in runs.columns and bool((runs["lr_rule"] == "sharpness").any())
    col = OPTIONAL_COLUMNS[group][0]
    return col in runs.columns and bool(runs[col].notna().any())


def _applies(runs: pd.DataFrame, units: str) -> bool:
    """Whether some run is measured by ``units`` (its column holds a value)."""
    col = f"{units}_frac_init"
    return col in runs.columns and bool(runs[col].notna().any())


def _count(x: pd.Series) -> float:
    """Runs flagged among those where the flag applies; NaN when it applies to none."""
    v = x.dropna()
    return float(np.sum(v.astype(bool))) if len(v) else math.nan


def group_keys(runs: pd.DataFrame) -> list[str]:
    """Columns the summary groups by: dataset, depth, then every other varying grid field.

    A field varies when it has more than one distinct value in ``runs``; ``seed`` is
    averaged over instead.
    """
    keys = [k for k in ALWAYS if k in runs.columns]
    for name in DERIVED:  # only when they split the dataset x depth (x width) groups
        if name in runs.columns and len(runs):
            n_groups = runs[keys].drop_duplicates().shape[0] if keys else 1
            if runs[[*keys, name]].drop_duplicates().shape[0] > n_groups:
                keys.append(name)
    for name in CONFIG_COLUMNS:
        if name in keys or name in REPEATS or name in DERIVED or name not in runs.columns:
            continue
        if runs[name].nunique(dropna=False) > 1:
            keys.append(name)
    return keys


def _nanmean(x: pd.Series) -> float:
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def summary_table(runs: pd.DataFrame, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Across-seeds summary of a runs table.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table (:func:`fastdepth.store.load`), in grid order.
    keys : sequence of str, optional
        Group-by columns (default: :func:`group_keys`).

    Returns
    -------
    pandas.DataFrame
        One row per group, in order of first appearance in ``runs``: the keys, ``n_runs``,
        ``train_acc``, ``train_acc_ci``, ``test_acc``, ``test_acc_ci`` (mean and 95% CI
        half-width, :func:`fastdepth.metrics.mean_ci`), ``final_loss``, ``grad_norm_mean``,
        ``grad_norm_std``, ``grad_norm_cv``, ``up_fraction``, ``tv_ratio``,
        ``dead_frac_init``, ``dead_frac_end`` (means over seeds of finite values),
        ``born_dead``, ``saturated_frac_init``, ``saturated_frac_end``, ``born_saturated``,
        ``collapsed`` and ``diverged`` (counts). The dead columns are there only if some
        run is of the ReLU family, the saturated ones only if some run is tanh or sigmoid;
        a row they do not apply to holds NaN. ``regions_init`` and ``regions_final``
        (means over seeds of the runs that have one) are there only if some run counted
        its regions (``count_regions``).
    """
    keys = list(group_keys(runs) if keys is None else keys)
    units = [u for u in UNIT_COLUMNS if _applies(runs, u)]
    optional = [c for grp, cs in OPTIONAL_COLUMNS.items() if _measured(runs, grp) for c in cs]
    rows = []
    if len(runs):
        groups = runs.groupby(keys, sort=False, dropna=False) if keys else [((), runs)]
        for key, g in groups:
            key = key if isinstance(key, tuple) else (key,)
            tr = mean_ci(g["final_train_acc"])
            te = mean_ci(g["final_test_acc"])
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "n_runs": len(g),
                    "train_acc": tr[0],
                    "train_acc_ci": tr[2],
                    "test_acc": te[0],
                    "test_acc_ci": te[2],
                    "final_loss": _nanmean(g["final_train_loss"]),
                    "grad_norm_mean": _nanmean(g["grad_norm_mean"]),
                    "grad_norm_std": _nanmean(g["grad_norm_std"]),
                    "grad_norm_cv": _nanmean(g["grad_norm_cv"]),
                    "up_fraction": _nanmean(g["up_fraction"]),
                    "tv_ratio": _nanmean(g["tv_ratio"]),
                    **{
                        k: v
                        for u in units
                        for k, v in (
                            (f"{u}_frac_init", _nanmean(g[f"{u}_frac_init"])),
                            (f"{u}_frac_end", _nanmean(g[f"{u}_frac_end"])),
                            (f"born_{u}", _count(g[f"born_{u}"])),
                        )
                    },
                    **{c: _nanmean(g[c]) for c in optional},
                    # stores of schema 1 have no such column (loaded as missing = not counted)
                    "collapsed": int(np.sum(g["collapsed"].fillna(False).astype(bool))),
                    "diverged": int(np.sum(g["status"] == "diverged")),
                }
            )
    hidden = {c for u, cs in UNIT_COLUMNS.items() if u not in units for c in cs}
    hidden |= {c for cs in OPTIONAL_COLUMNS.values() for c in cs if c not in optional}
    cols = [*keys, "n_runs", "train_acc", "train_acc_ci", "test_acc", "test_acc_ci",
            *(c for c, _, kind in _DISPLAY
              if kind != "ci" and c != "n_runs" and c not in hidden)]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def _fmt(value: float, kind: str, ci: float = math.nan, decimals: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if kind == "int":
        return str(int(value))
    if kind == "ci":
        ci_text = f" ± {ci:.{decimals}f}" if math.isfinite(ci) else ""
        return f"{value:.{decimals}f}{ci_text}"
    if kind == "count":  # a mean of counts: whole numbers once they are large
        return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
    if kind == "f2":  # two decimals, but never a 150-digit cell: 1.2e+05 past 1000
        return f"{value:.2f}" if abs(value) < 1e3 else f"{value:.3g}"
    return f"{value:.3g}"


def _key_text(name: str, value: object) -> str:
    if pd.isna(value):
        return "full" if name == "batch_size" else "-"
    return str(value)


def _cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]], list[bool]]:
    """Headers, formatted cells and which columns are numeric (right-aligned)."""
    known = {d[0] for d in _DISPLAY}
    keys = [c for c in table.columns if c not in known and not c.endswith("_ci")]
    display = [d for d in _DISPLAY if d[0] in table.columns]
    headers = [*keys, *(h for _, h, _ in display)]
    numeric = [pd.api.types.is_numeric_dtype(table[k]) for k in keys] + [True] * len(display)
    # One more decimal where a CI would print as 0.000 (many seeds): the CI is the point.
    decimals = {}
    for col, _, kind in display:
        if kind == "ci":
            ci = table[f"{col}_ci"].to_numpy(dtype=float)
            decimals[col] = 4 if np.any((ci > 0) & (ci < 0.0005)) else 3
    rows = []
    for i in range(len(table)):
        cells = [_key_text(k, table[k].iloc[i]) for k in keys]
        for col, _, kind in display:
            ci = table[f"{col}_ci"].iloc[i] if kind == "ci" else math.nan
            cells.append(_fmt(table[col].iloc[i], kind, ci, decimals.get(col, 3)))
        rows.append(cells)
    return headers, rows, numeric


def format_text(table: pd.DataFrame, legend: bool = True) -> str:
    """The summary as an aligned plain-text table (strings left, numbers right)."""
    headers, rows, numeric = _cells(table)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if num else c.ljust(w)
               for c, w, num in zip(cells, widths, numeric, strict=True)]  # fmt: skip
        return "  ".join(out).rstrip()

    lines = [line(headers), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in rows]
    if legend:
        lines += ["", *textwrap.wrap(legend_text(shown_units(table)), 100)]
    return "\n".join(lines)


def format_markdown(table: pd.DataFrame, legend: bool = True) -> str:
    """The summary as a GitHub-flavoured Markdown table."""
    headers, rows, numeric = _cells(table)

    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    lines = [
        "| " + " | ".join(esc(h) for h in headers) + " |",
        "|" + "|".join("---:" if num else ":---" for num in numeric) + "|",
        *("| " + " | ".join(esc(c) for c in r) + " |" for r in rows),
    ]
    if legend:
        lines += ["", legend_text(shown_units(table))]
    return "\n".join(lines) + "\n"


def write_summary(table: pd.DataFrame, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``summary.csv`` (numbers, full precision) and ``summary.md`` into ``directory``.

    Returns
    -------
    (Path, Path)
        The CSV and Markdown paths.
    """
    d = Path(directory)
    csv, md = d / "summary.csv", d / "summary.md"
    atomic_write_text(csv, table.to_csv(index=False, float_format="%.17g"))
    atomic_write_text(md, format_markdown(table))
    return csv, md
