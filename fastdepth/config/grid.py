"""Many runs: :class:`Grid` crosses (or zips) lists of field values on top of a base config.

A grid validates every run it holds when it is built (one per setting, the seeds on their
own), and estimates memory and FLOPs before anything runs::

    grid = Grid({"depth": [1, 2, 4, 6, 8], "seed": range(50)},
                base={"dataset": "rings", "epochs": 1000, "log_every": 1})
    grid.check_memory()
    for cfg in grid: ...
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import cost, seeds, toml_io
from .errors import ConfigError, unknown
from .run import DEFAULTS, FIELD_NAMES, RunConfig
from .values import is_seq, plain

__all__ = ["MAX_RUNS", "MAX_SETTINGS", "Grid"]

# Runs one grid may hold. Runs are built on demand from their settings (module
# fastdepth.config.seeds); what grows with the runs is the store (its runs table, one row
# per run, loads as one frame) and the manifest's seed list: a million runs keep both
# within a few hundred MB.
MAX_RUNS = 1_000_000
# Settings (combinations of the values of every axis but the seeds) one grid may hold:
# each is built and validated when the grid is (~0.1 ms and ~2 KB), so 100 000 take ~10 s.
MAX_SETTINGS = 100_000


def _axis_values(name: str, value: Any) -> list[Any]:
    """A grid entry as a list of values: scalars become one-element lists.

    ``widths`` is a sequence itself, so only a sequence of sequences (or None) is an axis;
    ``dataset_params`` is a dict, so a list of dicts is an axis.
    """
    if name == "widths":
        if is_seq(value) and len(value) > 0 and all(v is None or is_seq(v) for v in value):
            return [None if v is None else plain(v) for v in value]
        return [None if value is None else plain(value)]
    if is_seq(value):
        return [plain(v) for v in value]
    return [plain(value)]


def _axis_len(name: str, value: Any) -> int:
    """Values in a grid entry (as :func:`_axis_values` would list them), without listing."""
    if name == "widths":
        axis = is_seq(value) and len(value) > 0 and all(v is None or is_seq(v) for v in value)
        return len(value) if axis else 1
    if isinstance(value, range):  # len() of a range beyond 2**63 overflows
        step = value.step
        return max(0, (value.stop - value.start + step - (1 if step > 0 else -1)) // step)
    return len(value) if is_seq(value) else 1


def _zip_groups(groups: Any) -> list[tuple[str, ...]]:
    """Zip groups as tuples of names; :class:`ConfigError` unless names are strings."""
    if isinstance(groups, str) or not is_seq(groups):
        raise ConfigError(f"zip must be a list of groups of axis names, got {groups!r:.80}")
    out = []
    for group in groups:
        group = (group,) if isinstance(group, str) else group
        if not is_seq(group) or not all(isinstance(k, str) for k in group):
            raise ConfigError(
                f"a zip group lists axis names such as ['depth', 'lr'], got {group!r:.80}"
            )
        out.append(tuple(group))
    return out


def _check_unique(dim: list[dict[str, Any]]) -> None:
    """The same value twice on an axis (the same pairs in a zip group) is two copies of
    one experiment: say so plainly, before the run-id check blames some other field."""
    seen: dict[str, int] = {}
    for i, assign in enumerate(dim):
        key = json.dumps(assign, sort_keys=True, default=repr)
        if key in seen:
            names = " and ".join(repr(k) for k in assign)
            shown = _fmt(assign) if len(assign) > 1 else repr(next(iter(assign.values())))
            raise ConfigError(
                f"grid axis {names} lists {shown} twice (values #{seen[key]} and #{i}); "
                "give each value once"
            )
        seen[key] = i


def _fmt(assign: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in assign.items())


class Grid:
    """Many :class:`RunConfig` from lists of field values on top of a base config.

    Parameters
    ----------
    axes : mapping of field name -> value or list of values, optional
        A list / tuple / range / array is an axis; a scalar sets the field for every run.
        For ``widths`` an axis is a list of sequences (``[(16, 16), (32, 8)]``); for
        ``dataset_params`` a list of dicts.
    base : RunConfig, dict or None
        Values of fields no axis sets. A dict need not be valid on its own (e.g.
        ``{'dataset': 'regression1d'}`` with a ``loss`` axis of ``['mse']``).
    zip : sequence of tuples of field names
        Groups of axes advanced together instead of crossed; the lists in a group must
        have equal length. ``zip=[('depth', 'lr')]`` pairs ``depth[i]`` with ``lr[i]``.

    Notes
    -----
    Order: the axes in the order given (a zipped group at the position of its first
    member), the last axis varying fastest, as ``itertools.product``. One run per
    setting (combination of the values of every axis but ``seed``) is built and validated
    here, and the seeds on their own (:mod:`fastdepth.config.seeds`); an invalid run
    raises :class:`ConfigError` naming its grid values, and so do two runs with the same
    :attr:`RunConfig.run_id` (a field that has no effect in that combination, such as
    ``momentum`` with ``optimizer='sgd'``). The runs themselves are built when asked for
    (iteration, indexing, :meth:`runs`); sizes, costs and run ids come from the settings.
    """

    def __init__(
        self,
        axes: Mapping[str, Any] | None = None,
        base: RunConfig | Mapping[str, Any] | None = None,
        zip: Sequence[Sequence[str]] = (),  # shadows the builtin: the documented keyword
    ) -> None:
        axes = {} if axes is None else axes
        if not isinstance(axes, Mapping):
            raise ConfigError(f"axes must be a dict of field -> values, got {axes!r:.80}")
        if base is not None and not isinstance(base, RunConfig | Mapping):
            raise ConfigError(f"base must be a RunConfig, a dict or None, got {base!r:.80}")
        n = Grid.count(axes, zip)  # before any list is built: refuse what cannot fit
        shape = " x ".join(f"{k}[{_axis_len(k, v)}]" for k, v in axes.items())
        if n > MAX_RUNS:
            raise ConfigError(
                f"this grid has {n:,} runs ({shape}), more than the {MAX_RUNS:,} one grid may "
                "hold (one store, one runs table); use fewer seeds or values, or split it "
                "into several grids with one store each"
            )
        free = "seed" in axes and _axis_len("seed", axes["seed"]) > 1
        free = free and not any("seed" in g for g in _zip_groups(zip))
        n_settings = n // _axis_len("seed", axes["seed"]) if free else n
        if n_settings > MAX_SETTINGS:
            raise ConfigError(
                f"this grid has {n_settings:,} combinations of values besides the seeds "
                f"({shape}), more than the {MAX_SETTINGS:,} one grid may hold (each is built "
                "and validated in memory, ~0.1 ms and ~2 KB); use fewer values, or split it "
                "into several grids with one store each"
            )
        self._values: dict[str, list[Any]] = {}
        for name, value in axes.items():
            vals = list(value) if isinstance(value, range) else _axis_values(name, value)
            if not vals:
                raise ConfigError(f"grid axis {name!r} is empty; give at least one value")
            self._values[name] = vals
        self._base = self._base_overrides(base)
        self._zip = self._check_zip(zip)
        self._free = "seed" if free else None
        dims = self._dimensions()
        for names, dim in dims:
            if names != (self._free,):
                _check_unique(dim)
        self._check_depth_vs_widths()
        self._settings, self._axis = self._expand(dims)

    @staticmethod
    def count(axes: Mapping[str, Any], zip: Sequence[Sequence[str]] = ()) -> int:
        """Runs a grid of ``axes`` (zipped as ``zip``) would have, without building any.

        Raises
        ------
        ConfigError
            For an unknown field or a malformed zip group.
        """
        lengths = {}
        for name, value in axes.items():
            if name not in DEFAULTS:
                raise unknown("grid field", name, FIELD_NAMES)
            lengths[name] = _axis_len(name, value)
        n, zipped = 1, set()
        for group in _zip_groups(zip):
            known = [lengths[k] for k in group if k in lengths]
            n *= max(known, default=1)
            zipped.update(group)
        for name, k in lengths.items():
            if name not in zipped:
                n *= k
        return n

    # ------------------------------------------------------------------ building

    @staticmethod
    def _base_overrides(base: RunConfig | Mapping[str, Any] | None) -> dict[str, Any]:
        """Base as the dict of fields that differ from the RunConfig defaults."""
        if base is None:
            return {}
        d = base.to_dict() if isinstance(base, RunConfig) else dict(base)
        out = {}
        for k, v in d.items():
            if k not in DEFAULTS:
                raise unknown("base field", k, FIELD_NAMES)
            v = plain(v)
            default = DEFAULTS[k]
            if v == default or (k == "dataset_params" and not v):
                continue
            out[k] = v
        return out

    def _check_zip(self, groups: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
        seen: set[str] = set()
        out = []
        for group in _zip_groups(groups):
            for name in group:
                if name not in self._values:
                    raise ConfigError(
                        f"zip group {group} names {name!r}, which is not a grid axis; axes: "
                        f"{', '.join(self._values)}"
                    )
                if name in seen:
                    raise ConfigError(f"field {name!r} appears in more than one zip group")
                seen.add(name)
            lengths = {name: len(self._values[name]) for name in group}
            if len(set(lengths.values())) > 1:
                raise ConfigError(
                    f"zipped axes need lists of equal length, got {lengths}; give each the "
                    "same number of values or cross them instead"
                )
            out.append(group)
        return out

    def _check_depth_vs_widths(self) -> None:
        sets_shape = [k for k in ("depth", "width") if k in self._values]
        has_widths = self._base.get("widths") is not None or any(
            v is not None for v in self._values.get("widths", [None])
        )
        if sets_shape and has_widths:
            raise ConfigError(
                f"the grid sets {' and '.join(sets_shape)} but also sets widths, which "
                "overrides depth and width; vary widths alone, or drop widths"
            )

    def _dimensions(self) -> list[tuple[tuple[str, ...], list[dict[str, Any]]]]:
        """``(names, assignments)`` per independent axis (a zip group is one axis); the
        free seed axis has no assignments (its values are checked on their own)."""
        group_of = {name: g for g in self._zip for name in g}
        dims, done = [], set()
        for name in self._values:
            g = group_of.get(name, (name,))
            if g in done:
                continue
            done.add(g)
            n = len(self._values[g[0]])
            rows = (
                [] if g == (self._free,) else [{k: self._values[k][i] for k in g} for i in range(n)]
            )
            dims.append((g, rows))
        return dims

    def _expand(
        self, dims: list[tuple[tuple[str, ...], list[dict[str, Any]]]]
    ) -> tuple[list[RunConfig], seeds.SeedAxis]:
        """Build and validate one run per setting; check the seeds; the grid's positions."""
        names = [g for g, _ in dims]
        p = names.index((self._free,)) if self._free else len(dims)
        rest = [rows for g, rows in dims if g != (self._free,)]
        after = int(np.prod([len(rows) for rows in rest[p:]], dtype=np.int64))
        n_settings = int(np.prod([len(rows) for rows in rest], dtype=np.int64))
        seed_list = None
        if self._free:
            trial = seeds.SeedAxis(n_settings, [0] * len(self._values["seed"]), after)
            seed_list = seeds.check_seeds(
                self._values["seed"], lambda k: f"#{trial.position(0, k)}"
            )
        axis = seeds.SeedAxis(n_settings, seed_list, after)
        fixed = {"seed": seed_list[0]} if seed_list else {}
        varying = set(self.axes)
        runs: list[RunConfig] = []
        first_error, n_bad = None, 0
        by_id: dict[str, int] = {}
        for j, combo in enumerate(itertools.product(*rest)):
            assign: dict[str, Any] = {}
            for part in combo:
                assign.update(part)
            assign.update(fixed)
            i = axis.position(j, 0)
            try:
                cfg = RunConfig.from_dict({**self._base, **assign})
            except ConfigError as e:
                n_bad += 1
                if first_error is None:
                    shown = {k: v for k, v in assign.items() if k in varying} or assign
                    first_error = f"grid run #{i} ({_fmt(shown)}) is invalid: {e}"
                continue
            if cfg.run_id in by_id and first_error is None:
                j0 = by_id[cfg.run_id]
                a = {k: v for k, v in runs[j0].to_dict().items() if k in varying}
                b = {k: v for k, v in cfg.to_dict().items() if k in varying}
                raise ConfigError(
                    f"grid runs #{axis.position(j0, 0)} ({_fmt(a)}) and #{i} ({_fmt(b)}) are "
                    f"the same experiment (run_id {cfg.run_id}): a grid value has no effect in "
                    "this combination (e.g. momentum with optimizer='sgd', alpha with "
                    "activation='relu', residual_block without residual); use zip= or "
                    "separate grids"
                )
            by_id[cfg.run_id] = j
            runs.append(cfg)
        if first_error is not None:
            total = (len(runs) + n_bad) * axis.n_seeds
            bad = n_bad * axis.n_seeds
            more = f" ({bad} of {total} runs are invalid)" if bad > 1 else ""
            raise ConfigError(first_error + more)
        return runs, axis

    # ------------------------------------------------------------------ access

    @property
    def axes(self) -> tuple[str, ...]:
        """Fields with more than one value, in grid order."""
        return tuple(k for k, v in self._values.items() if len(v) > 1)

    @property
    def values(self) -> dict[str, list[Any]]:
        """Every field the grid sets -> its list of values (copies)."""
        return {k: list(v) for k, v in self._values.items()}

    @property
    def base(self) -> dict[str, Any]:
        """Base fields that differ from the RunConfig defaults."""
        return dict(self._base)

    @property
    def zip(self) -> list[tuple[str, ...]]:
        """Zipped groups of axes."""
        return list(self._zip)

    def __len__(self) -> int:
        return len(self._axis)

    def __iter__(self) -> Iterator[RunConfig]:
        if self._axis.seeds is None:
            return iter(self._settings)
        s, seed_list = self._settings, self._axis.seeds
        return (seeds.with_seed(s[j], seed_list[k]) for j, k in self._axis.pairs())

    def __getitem__(self, i: int | slice) -> Any:
        """Run ``i`` (a :class:`RunConfig`), or a list of runs for a slice; built on demand."""
        n = len(self)
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(n))]
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"grid run {i} out of range for a grid of {n} runs")
        j, k = self._axis.locate(i % n)
        if self._axis.seeds is None:
            return self._settings[j]
        return seeds.with_seed(self._settings[j], self._axis.seeds[k])

    def runs(self) -> list[RunConfig]:
        """All runs, in grid order."""
        return list(self)

    def settings(self) -> list[RunConfig]:
        """One run per combination of the values of every axis but the seeds, in grid order.

        Every run of the grid is one of these with another seed (a grid whose seeds are
        zipped with another axis, or that has one seed, has its runs as settings).
        """
        return list(self._settings)

    def setting_of(self) -> np.ndarray:
        """The index into :meth:`settings` of every run, int64 of shape ``(len(grid),)``."""
        return self._axis.order()

    def per_run(self, fn: Callable[[RunConfig], float]) -> np.ndarray:
        """``fn(run)`` of every run in grid order, float64 of shape ``(len(grid),)``.

        ``fn`` is called once per setting, so it must not read the seed (a cost, a size).
        """
        values = np.array([float(fn(r)) for r in self._settings], dtype=np.float64)
        return values[self._axis.order()]

    def run_ids(self) -> list[str]:
        """Every run's :attr:`RunConfig.run_id`, in grid order, without building the runs."""
        return seeds.run_ids(self._settings, self._axis)

    def distinct(self, field: str) -> list[Any]:
        """The distinct values of ``field`` over the runs, in order of first appearance."""
        if field == "seed" and self._axis.seeds is not None:
            return list(dict.fromkeys(self._axis.seeds))
        # settings appear in grid order for the first time in their own order
        return list(dict.fromkeys(getattr(r, field) for r in self._settings))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        shape = " x ".join(f"{k}[{len(self._values[k])}]" for k in self.axes) or "single run"
        return f"Grid({len(self)} runs: {shape})"

    # ------------------------------------------------------------------ cost estimates

    def memory_bytes(self) -> int:
        """Bytes of telemetry and parameter state for all runs.

        Per run, in floats of the run's dtype::

            n_log_points  * (2 + n_layers)        # loss, total grad norm, per-layer grad norm
          + n_eval_points * (3 + 2 * n_layers)    # train/test acc, test loss; dead, act norm
          + n_params * (3 + k)                    # initial, current, gradient; k optimizer
                                                  # state vectors (sgd 0, momentum 1, adam 2)

        with ``n_layers = depth + 1``; :attr:`RunConfig.n_log_points` and
        :attr:`RunConfig.n_eval_points` define the counts. Per-thread forward/backward
        workspace and the datasets are not included (bounded by the chunk size).
        """
        return sum(r.memory_bytes() for r in self._settings) * self._axis.n_seeds

    def estimated_flops(self, include_eval: bool = True) -> int:
        """Estimated FLOPs of the whole grid.

        Training: ``layout.flops_per_sample * n_train * epochs`` per run (forward,
        backward and update; every epoch touches each training sample once, whatever
        the batch size). Evaluation (if ``include_eval``): a forward pass, ``2 S`` per sample,
        over ``n_train + n_test`` samples at each of the ``n_eval_points``.
        ``S = sum(fan_in * fan_out)``; activations and biases are not counted.
        """
        return sum(r.flops(include_eval) for r in self._settings) * self._axis.n_seeds

    def estimate_seconds(self, gflops: float | None = None, threads: int | None = None) -> float:
        """Estimated wall time of training the grid.

        By default the cost model of :mod:`fastdepth.config.cost`: FLOPs plus per-layer and
        per-activation costs fitted on measured chunk times (a tanh run costs about twice a
        ReLU run of the same shape), on ``threads`` threads (default: Numba's setting).
        With ``gflops``, the plain ``estimated_flops() / gflops`` of a sustained rate.
        """
        if gflops is not None:
            if not gflops > 0:
                raise ConfigError(f"gflops must be > 0, got {gflops}")
            return self.estimated_flops() / (gflops * 1e9)
        if threads is None:
            import numba

            threads = numba.get_num_threads()
        return cost.estimate_seconds(self._settings, threads, copies=self._axis.n_seeds)

    def check_memory(self, limit_bytes: int | None = None) -> int:
        """Raise :class:`ConfigError` if :meth:`memory_bytes` exceeds the limit.

        Parameters
        ----------
        limit_bytes : int, optional
            Default: half of the available RAM (``os.sysconf``); if that cannot be read,
            no check is made.

        Returns
        -------
        int
            Bytes needed.
        """
        return cost.check_memory(self._settings, limit_bytes, what=f"this grid of {len(self)} runs",
                                 copies=self._axis.n_seeds)  # fmt: skip

    # ------------------------------------------------------------------ (de)serialise

    def to_dict(self) -> dict[str, Any]:
        """``{'axes': {field: [values]}, 'base': {field: value}, 'zip': [[fields]]}``."""
        return {
            "axes": self.values,
            "base": dict(self._base),
            "zip": [list(g) for g in self._zip],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Grid:
        """Inverse of :meth:`to_dict`."""
        extra = [k for k in d if k not in toml_io.GRID_KEYS]
        if extra:
            raise unknown("Grid key", extra[0], toml_io.GRID_KEYS)
        return cls(d.get("axes", {}), base=d.get("base"), zip=d.get("zip", ()))

    def to_toml(self, path: str | os.PathLike) -> str:
        """Write the grid as TOML (``zip`` array, ``[base]`` and ``[axes]`` tables).

        TOML has no null: ``None`` is written as the string ``"none"`` inside axis lists
        and omitted from ``[base]`` (every nullable field defaults to None).

        Returns
        -------
        str
            The text written.
        """
        base = {k: v for k, v in self._base.items() if v is not None}
        doc = {
            "zip": [list(g) for g in self._zip],
            "base": base,
            "axes": self.values,
        }
        text = toml_io.dumps(doc)
        Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> Grid:
        """Read a grid written by :meth:`to_toml` (or by hand in the same layout)."""
        base, axes, zip_groups = toml_io.grid_parts(toml_io.read(path), str(path))
        return cls(axes, base=base, zip=zip_groups)
