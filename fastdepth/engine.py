"""The engine: turn run configs into packed arrays, train them, unpack the results.

This is the only place that knows both the study vocabulary (:class:`RunConfig`)
and the kernels' packed format. It holds no numeric loop: the compiled
:func:`fastdepth.kernels.train_batch` (or its NumPy twin) does the training.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import model
from .analysis.counts import run_region_counts
from .config import ConfigError, RunConfig, check_memory
from .kernels import columns as T
from .kernels import vocab
from .kernels.settings import ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEDULES, STATUS_NAMES
from .kernels.telemetry import (
    Telemetry,
    TelemetryLayout,
    eval_columns,
    log_columns,
)
from .metrics import sharpness_summary, summarize
from .result import RunResult, Snapshots


@dataclass
class Batch:
    """Packed inputs of one ``train_batch`` call (see :mod:`fastdepth.kernels.trainer`)."""

    runs: list[RunConfig]
    arrays: dict[str, np.ndarray]
    initial: np.ndarray

    @property
    def dtype(self) -> np.dtype:
        return self.arrays["params"].dtype


def _data_key(run: RunConfig) -> tuple:
    c = run.canonical_dict()
    return (c["dataset"], str(c["dataset_params"]), c["noise"], run.n_train, run.n_test,
            run.data_seed)  # fmt: skip


def _int_settings(r: RunConfig, data: int) -> dict[str, int]:
    """A run's ``icfg`` row by column name (:data:`fastdepth.kernels.columns.ICFG`)."""
    return {
        "data": data,
        "activation": ACTIVATIONS[r.activation],
        "loss": LOSSES[r.loss],
        "optimizer": OPTIMIZERS[r.optimizer],
        "rblock": r.rblock,
        "batch": r.batch,
        "steps": r.n_steps,
        "log_every": r.log_every,
        "eval_every": r.eval_every,
        "schedule": SCHEDULES[r.schedule],
        "snapshot_every": r.snapshot_every,
        "sharpness_every": r.sharpness_every,
        "sharpness_k": r.sharpness_k,
        "sharpness_iters": r.sharpness_iters,
        "lr_rule": vocab.LR_RULES[r.lr_rule],
    }


def _float_settings(r: RunConfig) -> dict[str, float]:
    """A run's ``fcfg`` row by column name: the RunConfig fields of the same names, with
    ``alpha`` resolved and ``clip`` 0 for off."""
    out = {c: float(getattr(r, c)) for c in T.FCFG if c not in ("alpha", "clip")}
    return {**out, "alpha": r.effective_alpha, "clip": r.clip or 0.0}


def pack_batch(runs: Sequence[RunConfig]) -> Batch:
    """Build the packed arrays for ``runs`` (one dtype): data once per distinct dataset.

    Parameters
    ----------
    runs : sequence of RunConfig
        All with the same ``dtype``.

    Returns
    -------
    Batch
        ``arrays`` holds every argument of :func:`fastdepth.kernels.train_batch`;
        ``initial`` a copy of the initial parameters.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("no runs to train")
    dtypes = {r.dtype for r in runs}
    if len(dtypes) > 1:
        raise ValueError(f"one batch needs one dtype, got {sorted(dtypes)}; use train_many")
    dt = runs[0].np_dtype
    data_index: dict[tuple, int] = {}
    xtr, ytr, xte, yte, dinfo = [], [], [], [], []
    offs = [0, 0, 0, 0]
    for r in runs:
        key = _data_key(r)
        if key in data_index:
            continue
        Xa, ya, Xb, yb = r.data()
        if not (np.all(np.isfinite(Xa)) and np.all(np.isfinite(Xb))):
            raise ConfigError(f"dataset {r.dataset!r} produced NaN or inf; check its parameters")
        data_index[key] = len(dinfo)
        parts = [np.ascontiguousarray(Xa.T, dtype=dt).ravel(), ya.astype(dt),
                 np.ascontiguousarray(Xb.T, dtype=dt).ravel(), yb.astype(dt)]  # fmt: skip
        dinfo.append([Xa.shape[1], Xa.shape[0], Xb.shape[0], *offs])
        for i, (lst, p) in enumerate(zip((xtr, ytr, xte, yte), parts, strict=True)):
            lst.append(p)
            offs[i] += p.size
    n = len(runs)
    layouts = [r.layout() for r in runs]
    p_off = np.zeros(n + 1, np.int64)
    p_off[1:] = np.cumsum([lay.n_params for lay in layouts])
    t_off = np.zeros(n + 1, np.int64)
    t_off[1:] = np.cumsum([lay.n_layers for lay in layouts])
    tables = np.ascontiguousarray(np.concatenate([lay.table for lay in layouts]), dtype=np.int64)
    params = np.concatenate([r.initial_params() for r in runs]).astype(dt)
    icfg = np.zeros((n, T.N_ICFG), np.int64)
    fcfg = np.zeros((n, T.N_FCFG), np.float64)
    keys = np.zeros(n, np.uint64)
    tel_off = np.zeros(n, np.int64)
    off = 0
    for k, r in enumerate(runs):
        icfg[k] = [_int_settings(r, data_index[_data_key(r)])[c] for c in T.ICFG]
        fcfg[k] = [_float_settings(r)[c] for c in T.FCFG]
        keys[k] = np.uint64(r.data_key())
        tel_off[k] = off
        off += r.telemetry_layout().size
    arrays = {
        "params": params, "p_off": p_off, "tables": tables, "t_off": t_off, "icfg": icfg,
        "fcfg": fcfg, "keys": keys, "dinfo": np.array(dinfo, np.int64).reshape(-1, T.N_DINFO),
        "xtr": np.concatenate(xtr), "ytr": np.concatenate(ytr), "xte": np.concatenate(xte),
        "yte": np.concatenate(yte), "tel": np.full(off, np.nan), "tel_off": tel_off,
        "status": np.zeros(n, np.int64), "div_step": np.full(n, -1, np.int64),
    }  # fmt: skip
    return Batch(runs=runs, arrays=arrays, initial=params.copy())


def run_batch(batch: Batch, threads: int | None = None, backend: str = "compiled",
              on_done: Callable[[np.ndarray], None] | None = None) -> float:  # fmt: skip
    """Train a packed batch in place; returns the wall time in seconds.

    ``on_done(indices)`` runs in a trainer thread as soon as the networks ``indices``
    are trained (see :func:`fastdepth.kernels.train_batch`).
    """
    fn = model.backend(backend).train_batch
    t0 = time.perf_counter()
    fn(**batch.arrays, threads=threads, on_done=on_done)
    return time.perf_counter() - t0


def _train_outputs(batch: Batch, k: int, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Outputs of trained network ``k`` on its training inputs and the targets, ``(n_train,)``."""
    a = batch.arrays
    n_in, ntr, xo, yo = (int(v) for v in a["dinfo"][int(a["icfg"][k, T.I_DATA])][[
        T.D_NIN, T.D_NTR, T.D_XTR, T.D_YTR]])  # fmt: skip
    X = a["xtr"][xo : xo + n_in * ntr].reshape(n_in, ntr)
    params = a["params"][int(a["p_off"][k]) : int(a["p_off"][k + 1])]
    return model.network_outputs(batch.runs[k], params, X, backend), a["ytr"][yo : yo + ntr]


def unpack_results(batch: Batch, wall: float = 0.0, backend: str = "compiled") -> list[RunResult]:
    """Slice a trained batch into one :class:`RunResult` per run, in the batch's order.

    ``backend`` computes the trained networks' outputs for the ``collapsed`` metric
    (:func:`fastdepth.metrics.summarize`); pass the one :func:`run_batch` trained with.
    ``wall`` (the batch's seconds) is shared out to the runs by FLOPs.
    """
    results = [unpack_one(batch, k, backend) for k in range(len(batch.runs))]
    _share_wall_time(batch, results, wall)
    return results


def _share_wall_time(batch: Batch, results: list[RunResult], wall: float) -> None:
    flops = np.array([r.flops() for r in batch.runs], dtype=np.float64)
    share = flops / flops.sum() if flops.sum() > 0 else np.full(len(flops), 1 / len(flops))
    for res, s in zip(results, share, strict=True):
        res.wall_time = float(wall * s)


def unpack_one(batch: Batch, k: int, backend: str = "compiled") -> RunResult:
    """The :class:`RunResult` of network ``k`` of a trained batch (``wall_time`` 0).

    Safe to call from a trainer thread for a network that is finished while others
    still train: it only reads network ``k``'s slices of the batch.
    """
    a = batch.arrays
    run = batch.runs[k]
    layout = run.layout()
    units = vocab.units_of(run.activation)
    tl = run.telemetry_layout(units)
    tel = tl.split(a["tel"], int(a["tel_off"][k]))
    sharp = tl.sharpness(a["tel"], int(a["tel_off"][k]))
    status = STATUS_NAMES[int(a["status"][k])]
    if vocab.STATUSES.entry(status).internal:
        raise RuntimeError(
            f"run {run.run_id}: the compiled trainer reported status {status!r} "
            f"({vocab.STATUSES.entry(status).doc}); please report this as a bug"
        )
    p0, p1 = int(a["p_off"][k]), int(a["p_off"][k + 1])
    output, target = _train_outputs(batch, k, backend) if status == "ok" else (None, None)
    init = tl.init_fields(tel.init)
    sharp_keys = sharpness_summary(tl.sharpness_steps(), sharp, run.lr, run.lr_rule,
                                   run.optimizer, run.momentum, run.schedule, run.n_steps,
                                   run.sharpness_every)  # fmt: skip
    if run.measures_sharpness:
        init["sharpness"] = sharp_keys["sharpness_init"]
    summary = summarize(tel.log, tel.eval, tel.init, layout.n_layers, status,
                        int(a["div_step"][k]), output, target, units, sharp_keys)  # fmt: skip
    if run.count_regions != "off":
        # Here, in the trainer thread, so the counts overlap the other networks' training
        # (a grid count's hashing is compiled and releases the GIL).
        summary.update(run_region_counts(run, batch.initial[p0:p1], a["params"][p0:p1],
                                         ok=status == "ok"))  # fmt: skip
    return RunResult(
        config=run,
        run_id=run.run_id,
        status=status,
        curves=_curves(tel, tl, sharp),
        summary=summary,
        init=init,
        initial_params=layout.unpack(batch.initial[p0:p1]),
        final_params=layout.unpack(a["params"][p0:p1]),
        snapshots=_snapshots(tl, a["tel"], int(a["tel_off"][k]), run),
    )


def _snapshots(tl: TelemetryLayout, tel: np.ndarray, off: int, run: RunConfig) -> Snapshots | None:
    """The weight snapshots a run recorded (None when it took none), in its dtype.

    Rows a diverged run never reached (still NaN) are left out.
    """
    if tl.n_snapshots == 0:
        return None
    block = tl.snapshots(tel, off)
    written = ~np.all(np.isnan(block), axis=1)
    return Snapshots(tl.snapshot_steps()[written], block[written].astype(run.np_dtype))


@functools.lru_cache(maxsize=64)
def _curve_columns(n_layers: int, units: str) -> tuple[pd.Index, int, np.ndarray]:
    """The curves table's columns after ``step`` (one Index per depth, built once: pandas
    turns a list of names into an Arrow string array each time), the count of log
    columns among them, and which telemetry columns are kept (an activation without a
    unit measure has no ``<units>_<k>`` columns)."""
    log = log_columns(n_layers)
    names = [*log, *eval_columns(n_layers, units)]
    keep = np.array([not n.startswith("none_") for n in names])
    return pd.Index([n for n, k in zip(names, keep, strict=True) if k]), len(log), keep


def _curves(tel: Telemetry, tl: TelemetryLayout, sharp: np.ndarray) -> pd.DataFrame:
    """One row per logged, evaluated or sharpness-measured step (sorted), NaN where a
    cadence has no value; the ``sharpness`` & co. columns only when measured.

    Built with NumPy (one DataFrame per run, no merge): a pandas merge per run was
    2.3 ms, 4% of W1's wall time.
    """
    columns, n_log_cols, keep = _curve_columns(tl.n_layers, tl.units)
    log_steps, ev_steps = tl.log_steps(), tl.eval_steps()
    steps = np.union1d(log_steps, ev_steps)
    sh_steps = tl.sharpness_steps()
    if sh_steps.size:
        steps = np.union1d(steps, sh_steps)
    table = np.full((steps.shape[0], keep.shape[0]), np.nan)
    table[np.searchsorted(steps, log_steps), :n_log_cols] = tel.log
    table[np.searchsorted(steps, ev_steps), n_log_cols:] = tel.eval
    if not keep.all():
        table = table[:, keep]
    if sh_steps.size:
        extra = np.full((steps.shape[0], sharp.shape[1]), np.nan)
        extra[np.searchsorted(steps, sh_steps)] = sharp
        table = np.concatenate([table, extra], axis=1)
        columns = columns.append(pd.Index(tl.sharpness_columns))
    df = pd.DataFrame(table, columns=columns, copy=False)
    df.insert(0, "step", steps)
    return df


def _progress_bar(show: bool | None, runs: list[RunConfig], backend: str):
    """A tqdm bar over ``runs`` on stderr (``None`` when not shown), after the compile notice.

    ``show=None``: only when someone watches stderr (a terminal or a Jupyter kernel). The
    trainer is compiled first (or loaded from Numba's disk cache), saying so when that
    takes more than a few seconds, so that the bar's rate is the trainer's.
    """
    from .runner.progress import interactive

    if not (interactive() if show is None else bool(show)):
        return None
    from tqdm import tqdm

    if backend == "compiled":
        from .runner.chunks import warm_up

        warm_up(
            {r.dtype for r in runs},
            lambda msg: print(msg, file=sys.stderr, flush=True),
            {any(r.measures_sharpness for r in runs)},  # one batch per dtype: see warm_up
            {r.count_regions for r in runs},
        )
    return tqdm(total=len(runs), unit=" runs", desc="train_many", file=sys.stderr,
                dynamic_ncols=True)  # fmt: skip


def train_many(
    runs: Iterable[RunConfig],
    threads: int | None = None,
    backend: str = "compiled",
    *,
    progress: bool | None = None,
) -> list[RunResult]:
    """Train many networks at once; results in the order of ``runs``.

    Parameters
    ----------
    runs : iterable of RunConfig (or a Grid)
    threads : int, optional
        Threads for this call (default: Numba's current setting, i.e. all cores).
    backend : {"compiled", "reference"}
        ``"reference"`` runs the plain NumPy twin (slow; for checking).
    progress : bool, optional
        A progress bar on stderr, and a one-line notice while the trainer compiles on
        first use (~10-20 s once; Numba caches it on disk). Default: when stderr is a
        terminal or a Jupyter kernel; ``False`` silences both, ``True`` forces them.

    Returns
    -------
    list of RunResult
        One per run. A run is the same run whatever its neighbours or the thread
        count: its initial weights and mini-batch order come from its own config.
        :func:`fastdepth.frame` turns them into the long format of
        :func:`fastdepth.load_curves`.
    """
    runs = list(runs)
    if not runs:
        return []
    bad = next((r for r in runs if not isinstance(r, RunConfig)), None)
    if bad is not None:
        raise ConfigError(f"train_many takes RunConfig objects (or a Grid), got {bad!r:.80}")
    check_memory(runs)  # before any allocation: say how much and which knob to turn
    bar = _progress_bar(progress, runs, backend)
    try:
        return _train_all(runs, threads, backend, bar)
    finally:
        if bar is not None:
            bar.close()


def _train_all(runs: list[RunConfig], threads: int | None, backend: str, bar) -> list[RunResult]:
    lock = threading.Lock()  # the bar is updated from the trainer threads
    results: list[RunResult | None] = [None] * len(runs)
    by_dtype: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        by_dtype.setdefault(r.dtype, []).append(i)
    for idx in by_dtype.values():
        # No ordering needed: kernels.train_batch hands the networks to its threads
        # longest first itself.
        batch = pack_batch([runs[i] for i in idx])
        done: list[RunResult | None] = [None] * len(idx)

        def unpack(ks: np.ndarray, batch: Batch = batch, done: list = done) -> None:
            # In the trainer thread that just finished these networks, while the other
            # threads keep training: this Python work is then not a serial tail.
            for k in ks:
                done[int(k)] = unpack_one(batch, int(k), backend)
            if bar is not None:
                with lock:
                    bar.update(len(ks))

        wall = run_batch(batch, threads=threads, backend=backend, on_done=unpack)
        _share_wall_time(batch, done, wall)  # type: ignore[arg-type]
        for i, res in zip(idx, done, strict=True):
            results[i] = res
    return results  # type: ignore[return-value]


def train(run: RunConfig, backend: str = "compiled", *, progress: bool | None = False) -> RunResult:
    """Train one network (see :func:`train_many`; no progress bar unless asked)."""
    return train_many([run], threads=1, backend=backend, progress=progress)[0]
