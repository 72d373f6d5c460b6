"""``python -m fastdepth.report RUN_DIR``: the figures and a Markdown report of a sweep.

::

    python -m fastdepth.report runs/circle-rings-d1-2-4-6-8-s50-20250101-120000
    python -m fastdepth.report runs/my-sweep --svg --out paper/figs

Writes into the store (or ``--out DIR``)::

    figures/<figure>__<grid tag>.png   one PNG (and SVG with --svg) per figure
    report.md                          the figures, the across-seeds summary table, and
                                       what could not be drawn and why

File names are deterministic and encode the grid: ``loss_curves__circle-rings__d1-2-4-6-8__s50.png``
= figure, datasets, depths, seeds per cell, then any other field that varies (``lr-best`` when
each depth is shown at its best learning rate, ``lr8`` for a heatmap over 8 learning rates).
Figures of an earlier report that this one no longer draws are removed; no other file is.

Headless: figures are drawn with the Agg backend and released after saving. A store whose
sweep is still running is reported on as far as it got (committed chunks only).

Exit codes: 0 report written, 2 invalid command line or not a store.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import plots
from .config import ConfigError
from .plots.grid import distinct, fmt_value, join_values, norm_value, relevant, values_text
from .plots.style import depth_groups
from .store import (
    Store,
    StoreError,
    atomic_write,
    atomic_write_text,
    load,
    load_curves,
    load_layers,
    load_manifest,
)
from .summary import format_markdown, summary_table

__all__ = ["FIGURES", "Report", "grid_tag", "main", "save_figure", "write_report"]

PROG = "python -m fastdepth.report"
# At most this many conditions (panels side by side) per figure; more are split over figures.
MAX_CONDITIONS = 4
DPI = 200
# The figures, their titles and captions, in the order of the report (fastdepth.plots.FIGURES).
FIGURES = plots.FIGURES
_OWN_FILE = re.compile(r"^(" + "|".join(FIGURES) + r")__.+\.(png|svg)$")


@dataclass
class Report:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    markdown : Path
        ``report.md``.
    figures : list of Path
        Every image written (PNG, and SVG with ``svg=True``).
    skipped : list of (str, str)
        ``(figure, reason)`` for every figure that could not be drawn at all.
    caveats : list of (str, str)
        ``(caveat, figures)``: what drawn figures leave out (no CI with one seed, runs
        that diverged, ...), with the figures concerned.
    """

    markdown: Path
    figures: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    caveats: list[tuple[str, str]] = field(default_factory=list)


# ======================================================================================
# names


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def _join(values: Sequence[Any]) -> str:
    # %g, not the figures' %.3g: file names keep rates that differ in the 4th digit apart
    return join_values(values, "-", fmt=lambda v: f"{v:g}")


def grid_tag(runs: pd.DataFrame, *, fixed_keys: Sequence[str] = (), extra: str = "") -> str:
    """``circle-rings__d1-2-4-6-8__s50`` (+ ``__<field>-<values>`` for other varying fields).

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs a figure shows.
    fixed_keys : sequence of str
        Fields to name with their value even if they do not vary within ``runs`` (the keys a
        report was split by).
    extra : str
        Appended as a last part (e.g. ``lr-best``).
    """
    info = plots.grid_info(runs)
    datasets = list(dict.fromkeys(runs["dataset"].tolist()))
    parts = [_join(datasets), "d" + _join(info.depths), f"s{info.seeds[1]}"]
    for k in [*info.conditions, *info.linked, *fixed_keys]:
        if k in ("dataset", "depth", "seed") or (k == "lr" and extra.startswith("lr")):
            continue
        vals = distinct(runs[k])
        text = _join(vals) if len(vals) <= 4 else f"{len(vals)}"
        parts.append(f"{k}-{text}" if len(vals) <= 4 else f"{k}{text}")
    if extra:
        parts.append(extra)
    return "__".join(_slug(p) for p in parts)


# ======================================================================================
# building


def _split(runs: pd.DataFrame, info: plots.GridInfo) -> list[tuple[list[str], pd.DataFrame]]:
    """Groups of runs with at most :data:`MAX_CONDITIONS` panels each.

    Splits on the condition fields from the last one back (dataset stays a panel).
    """
    conds = list(info.conditions)
    keys: list[str] = []
    if conds:
        uniq = runs[conds].astype(object).map(norm_value).drop_duplicates()
        while len(keys) < len(conds) - 1:
            n_max = int(uniq.groupby(keys).size().max()) if keys else len(uniq)
            if n_max <= MAX_CONDITIONS:
                break
            keys.append([c for c in conds if c not in keys][-1])
    if not keys:
        return [([], runs)]
    frame = runs[keys].astype(object).map(norm_value)
    return [(keys, runs.loc[sub.index]) for _, sub in frame.groupby(keys, sort=False, dropna=False)]


def save_figure(
    fig: Any, directory: str | Path, stem: str, *, svg: bool = False, dpi: int = DPI
) -> list[Path]:
    """Write ``fig`` as ``directory/stem.png`` (and ``.svg``), atomically, then release it.

    Saved under :data:`fastdepth.plots.STYLE`; the SVG carries no date, so the same figure
    gives the same bytes. The figure is cleared afterwards (it never entered pyplot, so
    that frees everything).

    Returns
    -------
    list of Path
        The PNG, then the SVG if asked.
    """
    import matplotlib as mpl

    directory = Path(directory)
    out = []
    try:
        with mpl.rc_context(plots.STYLE):
            png = directory / f"{stem}.png"
            atomic_write(png, lambda f: fig.savefig(f, format="png", dpi=dpi))
            out.append(png)
            if svg:
                path = directory / f"{stem}.svg"
                atomic_write(path, lambda f: fig.savefig(f, format="svg",
                                                         metadata={"Date": None}))  # fmt: skip
                out.append(path)
    finally:
        fig.clear()
    return out


def _grid_markdown(info: plots.GridInfo) -> list[str]:
    lines = ["| field | values |", "|:---|:---|"]
    for k, v in info.varied.items():
        if k == "widths" and k not in (*info.conditions, *info.linked, *info.attrs):
            continue  # "16,16,16" follows from depth and width
        lines.append(f"| **{k}** (varied) | {values_text(k, v)} |")
    quiet = []
    for k, v in info.fixed.items():
        text = fmt_value(k, v)
        if relevant(k, info.fixed):
            lines.append(f"| {k} | {text.removeprefix(k).strip() or text} |")
        else:
            quiet.append(f"{k} = {'-' if v is None else v}")
    lines += ["", "Other fields (defaults, or without effect in this grid): " + ", ".join(quiet)]
    return lines


def write_report(
    path: str | Path,
    out: str | Path | None = None,
    *,
    svg: bool = False,
    dpi: int = DPI,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Draw every figure of a store and write ``report.md``.

    Parameters
    ----------
    path : path
        Store directory.
    out : path, optional
        Output directory (default: the store); figures go to ``out/figures``.
    svg : bool
        Also write SVG files.
    dpi : int
        PNG resolution.
    log : callable, optional
        Called with one line per figure written or skipped.

    Returns
    -------
    Report

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a store.
    """
    path = Path(path)
    manifest = load_manifest(path)
    out_dir = Path(out) if out is not None else path
    w = _Writer(out_dir, svg=svg, dpi=dpi, say=log or (lambda _: None))
    runs = load(path, timing=False)
    md: list[str] = [f"# fastdepth report: {path.resolve().name}", ""]
    versions = manifest.get("versions", {})
    head = (f"Store `{path}`: {len(runs)} of {manifest.get('n_runs', len(runs))} runs "
            f"finished; fastdepth {versions.get('fastdepth', '?')}")  # fmt: skip
    if manifest.get("git_commit"):
        dirty = " (dirty)" if manifest.get("git_dirty") else ""
        head += f", git {manifest['git_commit'][:10]}{dirty}"
    if manifest.get("command"):
        head += f"; command `{' '.join(manifest['command'])}`"
    md += [head + ".", ""]
    if len(runs) == 0:
        md += ["No finished runs yet: nothing to draw.", ""]
        for name in FIGURES:
            w.skip(name, "no finished runs")
    else:
        md += _draw_all(path, runs, w)
    md += ["## Could not draw", ""]
    if w.report.skipped:
        md += [f"- **{name}**: {reason}" for name, reason in w.report.skipped]
    else:
        md += ["Every figure was drawn."]
    if w.report.caveats:
        md += ["", "Drawn, but:", ""]
        md += [f"- {text} ({names})" for text, names in w.report.caveats]
    md.append("")
    atomic_write_text(w.report.markdown, "\n".join(md))
    for f in sorted(w.fig_dir.iterdir()):  # figures of an earlier report of another grid
        if _OWN_FILE.match(f.name) and f not in w.written:
            f.unlink()
    return w.report


class _Writer:
    """Saves figures, collects their Markdown, what was skipped and the caveats."""

    def __init__(self, out_dir: Path, *, svg: bool, dpi: int, say: Callable[[str], None]):
        self.out_dir = out_dir
        self.fig_dir = out_dir / "figures"
        self.fig_dir.mkdir(parents=True, exist_ok=True)
        self.svg, self.dpi, self.say = svg, dpi, say
        self.report = Report(markdown=out_dir / "report.md")
        self.written: set[Path] = set()
        self.sections: dict[str, list[str]] = {name: [] for name in FIGURES}
        self._caveats: dict[str, list[str]] = {}

    def skip(self, name: str, reason: str) -> None:
        if (name, reason) not in self.report.skipped:
            self.report.skipped.append((name, reason))
            self.say(f"  not drawn: {name}: {reason}")

    def draw(self, name: str, build: Callable[[], Any], stem: str, where: str) -> None:
        try:
            fig = build()
        except plots.CannotDraw as e:
            self.skip(name, f"{where}: {e}" if where else str(e))
            return
        for note in plots.figure_notes(fig):
            names = self._caveats.setdefault(f"{where}: {note}" if where else note, [])
            if name not in names:
                names.append(name)
        self.report.caveats = [(t, ", ".join(n)) for t, n in self._caveats.items()]
        files = save_figure(fig, self.fig_dir, f"{name}__{stem}", svg=self.svg, dpi=self.dpi)
        self.written.update(files)
        self.report.figures += files
        self.say(f"  {files[0]}")
        png = files[0].relative_to(self.out_dir).as_posix()
        text = f"![{files[0].stem}]({png})"
        if len(files) > 1:
            text += f"  \n[SVG]({files[1].relative_to(self.out_dir).as_posix()})"
        self.sections[name].append((f"**{where}**\n\n" if where else "") + text + "\n")


def _draw_all(path: Path, runs: pd.DataFrame, w: _Writer) -> list[str]:
    """Draw every figure; returns the Markdown of the grid, summary and figure sections."""
    info = plots.grid_info(runs)
    palette = plots.depth_palette(info.depths)
    md = ["## Grid", "", *_grid_markdown(info), ""]
    md += ["## Summary across seeds", "", format_markdown(summary_table(runs)), ""]
    specs = []
    for spec in FIGURES.values():
        reason = spec.skip_reason(runs, info)
        if reason is None:
            specs.append(spec)
        else:
            w.skip(spec.name, reason)
    # Several lrs: the lr-grid figures show them all; the others each depth at its best lr.
    shown, lr_tag = runs, ""
    if "lr" in info.conditions:
        n_lr = len(distinct(runs["lr"]))
        no_lr = dataclasses.replace(info, conditions=[c for c in info.conditions if c != "lr"])
        for keys, group in _split(runs, no_lr):
            where = _where(group, keys)
            stem = grid_tag(group, fixed_keys=keys, extra=f"lr{n_lr}")
            for spec in (s for s in specs if s.lr_grid):
                w.draw(spec.name, lambda s=spec, g=group: s.draw(g, palette=palette), stem, where)
        shown, lr_tag = plots.select_best_lr(runs), "lr-best"
        md += ["## Best learning rate per depth", "",
               "The figures other than the heatmaps show each depth at this learning rate "
               "(lowest median final training loss among the rates where fewest seeds "
               "diverged or collapsed).", "",
               *_md_table(plots.best_lr(runs), {"median": "median final train loss",
                                                "diverged": "share diverged",
                                                "collapsed": "share collapsed"}), ""]  # fmt: skip
    ids = shown["run_id"].tolist()
    inputs = {"curves": load_curves(path, run_id=ids), "layers": load_layers(path, run_id=ids),
              "path": path, "palette": palette}  # fmt: skip
    # More depths than colours tell apart: the figures keyed by colour, once per depth group.
    groups = depth_groups(info.depths)
    for keys, group in _split(shown, plots.grid_info(shown)):
        where = _where(group, keys)
        for spec in (s for s in specs if not s.lr_grid):
            for depths in groups if spec.by_colour and len(groups) > 1 else [None]:
                sub = group if depths is None else group[group["depth"].isin(depths)]
                stem = grid_tag(sub, fixed_keys=keys, extra=lr_tag)
                at = where if depths is None else ", ".join(
                    filter(None, [where, f"depths {depths[0]}-{depths[-1]}"]))  # fmt: skip
                w.draw(spec.name, lambda s=spec, g=sub: s.draw(g, **inputs), stem, at)
    md += ["## Figures", ""]
    for spec in FIGURES.values():
        if w.sections[spec.name]:
            md += [f"### {spec.title}", "", spec.caption, "", *w.sections[spec.name]]
    return md


def _where(group: pd.DataFrame, keys: Sequence[str]) -> str:
    return ", ".join(fmt_value(k, group[k].iloc[0]) for k in keys)


def _md_table(df: pd.DataFrame, headers: dict[str, str] | None = None) -> list[str]:
    """A small Markdown table (numbers right-aligned, floats in %.3g, as in the figures)."""
    cols = list(df.columns)
    num = [pd.api.types.is_numeric_dtype(df[c]) for c in cols]

    def cell(v: Any) -> str:
        v = norm_value(v)
        return "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))

    lines = ["| " + " | ".join((headers or {}).get(c, c) for c in cols) + " |",
             "|" + "|".join("---:" if n else ":---" for n in num) + "|"]  # fmt: skip
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return lines


# ======================================================================================
# command line


def make_parser() -> argparse.ArgumentParser:
    """The ``python -m fastdepth.report`` argument parser."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Draw the figures of a fastdepth sweep store and write report.md "
        "(figures, summary table, what could not be drawn).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="store directory written by the sweep")
    p.add_argument("--svg", action="store_true", help="also write SVG figures")
    p.add_argument(
        "--out", metavar="DIR", help="output directory (default: RUN_DIR); figures in DIR/figures"
    )
    p.add_argument("--dpi", type=int, default=DPI, help=f"PNG resolution (default: {DPI})")
    p.add_argument("--quiet", action="store_true", help="print only the report path")
    return p


def _not_a_store(path: Path) -> str:
    msg = f"{path} is not a fastdepth store (no manifest.json)"
    if not path.exists():
        return f"{path} does not exist"
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if Store(p).exists())
        if inside:
            more = f" (+{len(inside) - 5} more)" if len(inside) > 5 else ""
            msg += f"; stores inside it: {', '.join(inside[:5])}{more}"
    return msg


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report command line; returns the exit code (0 done, 2 usage / not a store)."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # headless; the figures never use pyplot anyway
    parser = make_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:
        return int(e.code or 0)
    path = Path(args.run_dir)
    if not Store(path).exists():
        print(f"error: {_not_a_store(path)}", file=sys.stderr)
        return 2
    if args.dpi < 20:
        print(f"error: --dpi must be >= 20, got {args.dpi}", file=sys.stderr)
        return 2
    log = None if args.quiet else print
    from .runner.inputs import check_out, manifest_errors  # the sweep's input checks

    try:
        if args.out is not None:
            check_out(args.out)
        with manifest_errors(path):  # the manifest must describe a store, as for a resume
            store = Store(path)
            store.grid()
            store.chunks()
            rep = write_report(path, args.out, svg=args.svg, dpi=args.dpi, log=log)
    except (StoreError, ConfigError, OSError) as e:  # a broken manifest, an unwritable --out
        where = getattr(e, "filename", None)
        reason = getattr(e, "strerror", None)
        print(f"error: {f'{where}: {reason}' if where and reason else e}", file=sys.stderr)
        return 2
    if args.quiet:
        print(rep.markdown)
    else:
        n_png = sum(f.suffix == ".png" for f in rep.figures)
        print(f"report: {rep.markdown} ({n_png} figures; {len(rep.skipped)} not drawn, "
              f"{len(rep.caveats)} caveats: see its end)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
