"""A grid's seed axis without listing its runs: the seeds' check, run positions, run ids.

A run's validity does not depend on its seed (only the seed's own range does), and every
run id includes the seed. So :class:`~fastdepth.config.Grid` builds and validates one
run per combination of the *other* axes (a "setting"), checks the seeds on their own,
and derives each run (:func:`with_seed`), its position and its run id
(:func:`run_ids`) from a setting and a seed. A grid of 20 000 seeds then costs what a
grid of one seed costs, until its runs are asked for one by one.

Grid order is ``itertools.product`` order over the axes, the seed axis at its own
position: with ``after`` the number of combinations of the axes behind the seed axis,
run ``i`` is setting ``(i // (after * n_seeds)) * after + i % after`` with seed number
``(i // after) % n_seeds``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    from .run import RunConfig

__all__ = ["SeedAxis", "check_seeds", "run_ids", "with_seed"]

# Stands for the seed in a setting's canonical JSON, which is otherwise a run's.
_MARK = "\x00fastdepth-seed\x00"


def check_seeds(values: Sequence[Any], where: Any) -> list[int]:
    """The seed axis as plain ints, each valid as a :class:`RunConfig` seed, none twice.

    Parameters
    ----------
    values : sequence
        The axis values as given (ints, integral floats, NumPy integers).
    where : callable
        ``where(k)`` names the first run with seed number ``k`` in error messages.

    Raises
    ------
    ConfigError
        For an invalid seed (the message of ``RunConfig(seed=...)``) or a repeated one.
    """
    from .normalise import INT64
    from .run import RunConfig

    if isinstance(values, range) and values.step > 0 and values.start >= 0:
        if values.stop <= INT64:
            return list(values)
    out = list(values)
    for k, v in enumerate(out):
        if type(v) is not int or not 0 <= v < INT64:  # the rare case: RunConfig decides
            try:
                out[k] = RunConfig(seed=v).seed
            except ConfigError as e:
                raise ConfigError(f"grid run {where(k)} (seed={v!r}) is invalid: {e}") from None
    if len(set(out)) != len(out):
        first: dict[int, int] = {}
        for k, v in enumerate(out):
            if v in first:
                raise ConfigError(
                    f"grid axis 'seed' lists {v!r} twice (values #{first[v]} and #{k}); "
                    "give each value once"
                )
            first[v] = k
    return out


def with_seed(setting: RunConfig, seed: int) -> RunConfig:
    """``setting`` with another (already checked) seed, without validating it again.

    Validation does not read the seed beyond its range (:func:`check_seeds`), so the copy
    is as valid as ``setting``; it copies the dataclass fields only, not the cached run id.
    """
    from .run import FIELD_NAMES, RunConfig

    run = object.__new__(RunConfig)
    fields = setting.__dict__
    run.__dict__.update({name: fields[name] for name in FIELD_NAMES})
    run.__dict__["seed"] = seed
    return run


class SeedAxis:
    """Positions of a grid's runs, by setting and seed (see the module docstring).

    Parameters
    ----------
    n_settings : int
        Combinations of the values of every other axis.
    seeds : list of int, or None
        The seed axis (None: the grid has no separate seed axis, its settings are its runs).
    after : int
        Combinations of the axes after the seed axis.
    """

    def __init__(self, n_settings: int, seeds: list[int] | None, after: int) -> None:
        self.n_settings = n_settings
        self.seeds = seeds
        self.n_seeds = 1 if seeds is None else len(seeds)
        self.after = after if seeds is not None else 1

    def __len__(self) -> int:
        return self.n_settings * self.n_seeds

    def locate(self, i: int) -> tuple[int, int]:
        """``(setting, seed number)`` of run ``i``."""
        q, r = divmod(i, self.after * self.n_seeds)
        k, s = divmod(r, self.after)
        return q * self.after + s, k

    def position(self, setting: int, k: int) -> int:
        """Run number of ``setting`` with seed number ``k``."""
        q, s = divmod(setting, self.after)
        return (q * self.n_seeds + k) * self.after + s

    def order(self) -> np.ndarray:
        """The setting of every run in grid order, int64 of shape ``(n_runs,)``."""
        i = np.arange(len(self), dtype=np.int64)
        return (i // (self.after * self.n_seeds)) * self.after + i % self.after

    def pairs(self) -> Any:
        """``(setting, seed number)`` of every run, in grid order (a generator)."""
        n_outer = self.n_settings // self.after
        for q in range(n_outer):
            for k in range(self.n_seeds):
                for s in range(self.after):
                    yield q * self.after + s, k


def run_ids(settings: Sequence[RunConfig], axis: SeedAxis) -> list[str]:
    """Run ids of a grid in grid order, one JSON template per setting (no run is built).

    The same digests as :attr:`RunConfig.run_id`: a run's canonical JSON is its setting's
    with the seed's digits in place of the seed (JSON writes an int as ``str(int)``).
    """
    if axis.seeds is None:
        return [r.run_id for r in settings]
    templates = []
    for cfg in settings:
        d = cfg.canonical_dict()
        d["seed"] = _MARK
        text = json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)
        mark = json.dumps(_MARK)
        if text.count(mark) != 1:  # cannot happen for a canonical dict; stay exact anyway
            return [with_seed(settings[j], axis.seeds[k]).run_id for j, k in axis.pairs()]
        pre, post = text.split(mark)
        templates.append((pre, post))
    digits = [str(s) for s in axis.seeds]
    sha = hashlib.sha256
    out = []
    for j, k in axis.pairs():
        pre, post = templates[j]
        out.append(sha((pre + digits[k] + post).encode()).hexdigest()[:16])
    return out
