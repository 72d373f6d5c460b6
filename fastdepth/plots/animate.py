"""Watching one network learn: its decision boundary (or fitted function) over training.

:func:`boundary_animation` turns the weight snapshots of a run (``snapshot_every > 0``) into
an animation: the decision boundary on a 2-D dataset (the fitted function on a 1-D one),
the loss curve beside it with the current step marked, and below that the per-layer strip
of dead / saturated units (:mod:`~fastdepth.plots.snapshots`) filling in as training goes.
It is written as an animated GIF (Pillow, which matplotlib already depends on) or, where
``ffmpeg`` is installed, an MP4.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import datasets
from ..kernels.vocab import units_of
from ..model import predict
from ..store import load, load_curves, load_snapshots
from .boundaries import _config_of, _sigmoid
from .grid import fmt_value
from .layout import wrap_text
from .select import thin
from .snapshots import draw_strip, unit_history
from .style import CLASS_COLORS, CLASS_MARKERS, STYLE

__all__ = [
    "ANIMATION_CAPTION",
    "FORMATS",
    "AnimationError",
    "animation_markdown",
    "animation_target",
    "boundary_animation",
    "find_run",
    "save_animation",
]

#: File suffix -> matplotlib writer name.
FORMATS = {".gif": "pillow", ".mp4": "ffmpeg"}
_TITLE, _SUB = 11.0, 8.5
#: What a report says about its animations.
ANIMATION_CAPTION = (
    "One run learning, from its weight snapshots: the decision boundary (2-D data) or the "
    "fitted function (1-D data) at each snapshot, the loss curves with the step shown, and "
    "the share of each hidden layer's units that are dead (ReLU family) or saturated (tanh, "
    "sigmoid) so far."
)


class AnimationError(ValueError):
    """A run that cannot be animated (unknown, no snapshots, too many inputs, no writer)."""


def find_run(runs: pd.DataFrame, run: str | int) -> pd.Series:
    """The row of ``run``: a run id, a unique prefix of one, or a ``run_index``."""
    if isinstance(run, int | np.integer) and not isinstance(run, bool):
        hit = runs[runs["run_index"] == int(run)]
    else:
        hit = runs[runs["run_id"].astype(str).str.startswith(str(run))]
    if len(hit) == 1:
        return hit.iloc[0]
    if len(hit) > 1:
        raise AnimationError(f"run {run!r} matches {len(hit)} runs; give more of its run id")
    raise AnimationError(
        f"no finished run {run!r} in the store (give a run_id, a prefix of one, or a run_index)"
    )


def animation_target(runs: pd.DataFrame, run: str | int, fmt: str = "gif") -> tuple[pd.Series, str]:
    """The runs-table row of ``run`` and its animation's file name, ``animation__<id>.<fmt>``.

    Raises
    ------
    AnimationError
        No such run, a run without snapshots or with more than two inputs, or no writer
        for ``fmt``.
    """
    row = find_run(runs, run)
    if not int(row.get("snapshot_every", 0) or 0) > 0:
        raise AnimationError(
            f"run {row['run_id']} has no weight snapshots (snapshot_every=0); sweep it with "
            "--snapshot-every K (e.g. a tenth of its steps) to animate it"
        )
    cfg = _config_of(row)
    if cfg.n_in > 2:
        raise AnimationError(
            f"run {row['run_id']}: {cfg.dataset} has {cfg.n_in} inputs, no 2-D map"
        )
    name = f"animation__{row['run_id']}.{fmt}"
    _writer(Path(name), 8)
    return row, name


def animation_markdown(row: pd.Series, rel: str) -> str:
    """The report's entry for one animation written at ``rel`` (a GIF inline, else a link)."""
    what = (f"{row['dataset']}, depth {int(row['depth'])}, {row['activation']}, "
            f"{fmt_value('lr', row['lr'])}, seed {int(row['seed'])}")  # fmt: skip
    head = f"**run {row['run_id']}** ({what}; final test acc {row['final_test_acc']:.3f})"
    if rel.endswith(".gif"):
        return f"{head}\n\n![training of run {row['run_id']}]({rel})"
    return f"{head}: [animation ({Path(rel).suffix[1:].upper()})]({rel})"


def _frames(n: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` snapshot indices, evenly spread, the first and the last kept."""
    if n <= max_frames:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_frames)).astype(int))


def boundary_animation(
    store: str | os.PathLike,
    run: str | int,
    out: str | os.PathLike | None = None,
    *,
    fps: int = 8,
    max_frames: int = 80,
    resolution: int = 120,
    max_points: int = 400,
    dpi: int = 100,
) -> animation.FuncAnimation:
    """An animation of one run learning, from its weight snapshots.

    Left: for a 2-D dataset, the predicted probability of class 1 over the data's bounding
    box (blue = class 0, red = class 1, black line = the decision boundary p = 0.5) with
    the training points; for a 1-D dataset, the network's output against the input, with
    the data. Right: the training loss (every logged step) and test loss (every
    evaluation) with the step shown marked, and, for activations with a unit state, the
    share of each hidden layer's units that are dead (ReLU family) or saturated (tanh,
    sigmoid) at each snapshot so far. The step is in the left panel's title.

    Parameters
    ----------
    store : path
        The store directory.
    run : str or int
        A run id (or a unique prefix of one), or its ``run_index``. It must have been
        trained with ``snapshot_every > 0``.
    out : path, optional
        Also write the animation there: ``.gif`` (Pillow) or ``.mp4`` (needs ffmpeg).
    fps : int
        Frames per second.
    max_frames : int
        At most this many frames: the snapshots evenly thinned (first and last kept).
    resolution : int
        Grid points per axis of the 2-D map.
    max_points : int
        Training points drawn (an even subsample).
    dpi : int
        Resolution of the written file.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Its figure is ``anim._fig``; in a notebook ``anim.to_jshtml()`` plays it.

    Raises
    ------
    AnimationError
        No such run; the run has no snapshots or more than two inputs; ``out`` has
        another suffix than ``.gif`` / ``.mp4`` (or ``.mp4`` without ffmpeg).
    """
    if out is not None:
        _writer(Path(out), fps)  # refuse an unknown format before any work
    runs = load(store, timing=False)
    row, _ = animation_target(runs, run)
    cfg = _config_of(row)
    snaps = load_snapshots(store, row["run_id"])
    curves = load_curves(store, run_id=row["run_id"], attach=[])
    idx = _frames(len(snaps), max_frames)
    Xtr, ytr, _, _ = cfg.data()
    with mpl.rc_context(STYLE):
        anim = _animate(cfg, row, snaps, idx, curves, Xtr, ytr, fps, resolution, max_points)
        if out is not None:
            save_animation(anim, out, fps=fps, dpi=dpi)
    return anim


def _animate(cfg, row, snaps, idx, curves, Xtr, ytr, fps, resolution, max_points):
    state = units_of(cfg.activation)
    fig = Figure(figsize=(10.0, 4.9), layout="constrained")
    FigureCanvasAgg(fig)
    outer = fig.add_gridspec(1, 2, width_ratios=[1.0, 1.15])
    main = fig.add_subplot(outer[0])
    right = outer[1].subgridspec(2 if state != "none" else 1, 1, height_ratios=[1.4, 1.0][
        : 2 if state != "none" else 1])  # fmt: skip
    ax_loss = fig.add_subplot(right[0])
    ax_strip = fig.add_subplot(right[1], sharex=ax_loss) if state != "none" else None
    head = " · ".join([cfg.dataset, f"depth {cfg.depth}", f"width {cfg.width}", cfg.activation,
                       f"{cfg.optimizer} {fmt_value('lr', cfg.lr)}", f"seed {cfg.seed}",
                       f"run {row['run_id']}"])  # fmt: skip
    title = "Watching a network learn: " + (
        "its decision boundary" if cfg.n_in == 2 else "its fitted function"
    )
    lines = wrap_text(head, 9.6, _SUB)
    fig.get_layout_engine().set(rect=(0, 0, 1, 1 - (0.45 + 0.17 * len(lines)) / 4.9))
    fig.text(0.5, 0.985, title, ha="center", va="top", fontsize=_TITLE, fontweight="bold")
    fig.text(0.5, 0.985 - 0.3 / 4.9, "\n".join(lines), ha="center", va="top", fontsize=_SUB,
             color="0.25")  # fmt: skip
    steps = snaps.steps[idx]
    box = datasets.bounding_box(cfg.dataset, cfg.noise, **cfg.dataset_kwargs)
    keep = thin(np.arange(len(Xtr)), max_points)
    update_main = (_map_panel if cfg.n_in == 2 else _curve_panel)(
        main, cfg, snaps, idx, box, Xtr, ytr, keep, resolution)  # fmt: skip
    update_loss = _loss_panel(ax_loss, curves, cfg)
    update_strip = None
    if ax_strip is not None:
        frac = unit_history(cfg, snaps, Xtr)
        update_strip = _strip_panel(ax_strip, snaps.steps, frac, state)
    ev = curves.dropna(subset=["train_loss"])
    n_steps = int(cfg.n_steps)

    def frame(i: int) -> list[Any]:
        k, step = int(idx[i]), int(steps[i])
        update_main(i)
        update_loss(step)
        if update_strip is not None:
            update_strip(k, step)
        text = f"step {step} of {n_steps}"
        at = ev[ev["step"] <= step]  # the last evaluation so far (every eval_every steps)
        if len(at):
            last = at.iloc[-1]
            when = "" if int(last["step"]) == step else f" at step {int(last['step'])}"
            text += f" · train loss {last['train_loss']:.3g}"
            if cfg.task == "classification":
                text += f", acc {last['train_acc']:.3f}"
            text += when
        main.set_title(text, fontsize=9)
        return []

    frame(len(idx) - 1)
    # Lay the figure out once, on the last frame (the widest tick labels), then keep it:
    # a constrained layout per frame cost most of the rendering time.
    fig.canvas.draw()
    fig.set_layout_engine("none")
    frame(0)
    anim = animation.FuncAnimation(fig, frame, frames=len(idx), interval=1000 / fps, blit=False,
                                   repeat=True)  # fmt: skip
    anim._fastdepth_steps = steps  # type: ignore[attr-defined]
    anim._fastdepth_frame = frame  # type: ignore[attr-defined]
    return anim


def _map_panel(ax, cfg, snaps, idx, box, Xtr, ytr, keep, resolution):
    xs = np.linspace(box[0, 0], box[0, 1], resolution)
    ys = np.linspace(box[1, 0], box[1, 1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    probs = []
    for k in idx:
        p = snaps.params[k]
        z = predict(cfg, p, grid).astype(np.float64) if np.all(np.isfinite(p)) else None
        probs.append(np.full(xx.shape, np.nan) if z is None else _sigmoid(z).reshape(xx.shape))
    cmap = mpl.colormaps["RdBu_r"].resampled(20)
    im = ax.imshow(probs[0], extent=(*box[0], *box[1]), origin="lower", cmap=cmap, vmin=0, vmax=1,
                   alpha=0.65, zorder=1, interpolation="nearest")  # fmt: skip
    for c in (0, 1):
        sel = keep[ytr[keep] == c]
        ax.scatter(Xtr[sel, 0], Xtr[sel, 1], s=9, marker=CLASS_MARKERS[c], c=CLASS_COLORS[c],
                   edgecolors="white", linewidths=0.4, zorder=3)  # fmt: skip
    ax.set_xlim(box[0])
    ax.set_ylim(box[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    cb = ax.figure.colorbar(im, ax=ax, shrink=0.8, pad=0.02, aspect=25)
    cb.set_label("p(class 1)")
    cb.set_ticks([0, 0.5, 1])
    held: list[Any] = []

    def update(i: int) -> None:
        im.set_data(probs[i])
        for c in held:
            c.remove()
        held.clear()
        p = probs[i]
        if np.isfinite(p).any() and np.nanmin(p) < 0.5 < np.nanmax(p):
            held.append(ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.3,
                                   zorder=2))  # fmt: skip

    return update


def _curve_panel(ax, cfg, snaps, idx, box, Xtr, ytr, keep, resolution):
    xs = np.linspace(box[0, 0], box[0, 1], resolution * 2)
    classify = cfg.task == "classification"
    ys = []
    for k in idx:
        p = snaps.params[k]
        z = predict(cfg, p, xs[:, None]).astype(np.float64) if np.all(np.isfinite(p)) else None
        ys.append(np.full(xs.shape, np.nan) if z is None else (_sigmoid(z) if classify else z))
    ax.scatter(Xtr[keep, 0], ytr[keep], s=6, color="0.5", alpha=0.6, zorder=2, label="data")
    (line,) = ax.plot(xs, ys[0], color="#D55E00", lw=2, zorder=3, label="network")
    lo, hi = float(np.min(ytr)), float(np.max(ytr))
    pad = 0.15 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlim(box[0])
    ax.set_xlabel("x")
    ax.set_ylabel("p(class 1)" if classify else "prediction")
    ax.legend(loc="upper left", fontsize=8)

    def update(i: int) -> None:
        line.set_ydata(ys[i])

    return update


def _loss_panel(ax, curves: pd.DataFrame, cfg):
    log = curves.dropna(subset=["loss"])
    ev = curves.dropna(subset=["test_loss"])
    # the whole run in grey, what has happened by the step shown in colour
    ax.plot(log["step"], log["loss"], color="0.82", lw=1.2)
    ax.plot(ev["step"], ev["test_loss"], color="0.82", lw=1.2, marker=".", ms=3)
    (done,) = ax.plot([], [], color="#0072B2", lw=1.6, label="training loss (batch)")
    (test,) = ax.plot([], [], color="#E69F00", lw=1.4, marker=".", ms=4, label="test loss")
    (dot,) = ax.plot([], [], "o", color="#0072B2", ms=5, zorder=4)
    cursor = ax.axvline(0, color="0.3", lw=0.8, ls="--")
    vals = np.concatenate([log["loss"].to_numpy(), ev["test_loss"].to_numpy()])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size and vals.max() / vals.min() > 30:
        ax.set_yscale("log")
    ax.set_ylabel("loss")
    ax.set_xlim(0, cfg.n_steps)
    ax.legend(loc="upper right", fontsize=8)
    ax.tick_params(labelbottom=True)
    steps, loss = log["step"].to_numpy(), log["loss"].to_numpy()
    ev_steps, ev_loss = ev["step"].to_numpy(), ev["test_loss"].to_numpy()

    def update(step: int) -> None:
        upto = steps <= step
        done.set_data(steps[upto], loss[upto])
        test.set_data(ev_steps[ev_steps <= step], ev_loss[ev_steps <= step])
        if upto.any() and np.isfinite(loss[upto][-1]):
            dot.set_data([steps[upto][-1]], [loss[upto][-1]])
        cursor.set_xdata([step, step])

    return update


def _strip_panel(ax, steps: np.ndarray, frac: np.ndarray, state: str):
    held: list[Any] = []
    mesh = draw_strip(ax, steps, frac, upto=0)
    cb = ax.figure.colorbar(mesh, ax=ax, pad=0.02, aspect=12)
    cb.set_label(f"share {state}")
    ax.set_ylabel("hidden layer\n(1 = input side)")
    ax.set_xlabel("optimizer step")
    cursor = ax.axvline(0, color="0.3", lw=0.8, ls="--")
    held.append(mesh)

    def update(k: int, step: int) -> None:
        held.pop().remove()
        held.append(draw_strip(ax, steps, frac, upto=k))
        cursor.set_xdata([step, step])

    return update


def _writer(path: Path, fps: int) -> animation.AbstractMovieWriter:
    name = FORMATS.get(path.suffix.lower())
    if name is None:
        raise AnimationError(f"{path}: write an animation as {' or '.join(FORMATS)}")
    if not animation.writers.is_available(name):
        raise AnimationError(
            f"{path}: {path.suffix} needs {name}, which is not installed; use .gif"
        )
    return animation.writers[name](fps=fps)


def save_animation(
    anim: animation.Animation, out: str | os.PathLike, *, fps: int = 8, dpi: int = 100
) -> Path:
    """Write ``anim`` as ``out`` (``.gif`` or ``.mp4``), atomically: a reader sees the old
    file or the whole new one. Returns the path."""
    path = Path(out)
    writer = _writer(path, fps)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        with mpl.rc_context(STYLE):
            frame = getattr(anim, "_fastdepth_frame", None)
            if frame is None:
                anim.save(str(tmp), writer=writer, dpi=dpi)
            else:
                # One draw per frame (Animation.save draws each frame three times).
                fig = anim._fig  # type: ignore[attr-defined]
                with writer.saving(fig, str(tmp), dpi):
                    for i in range(len(anim._fastdepth_steps)):  # type: ignore[attr-defined]
                        frame(i)
                        writer.grab_frame()
                anim._draw_was_started = True  # type: ignore[attr-defined]  # it was rendered
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
