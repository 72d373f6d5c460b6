"""Coercion of a :class:`~fastdepth.config.run.RunConfig`'s fields to canonical types.

Why: ``RunConfig(lr=1)`` and ``RunConfig(lr=1.0)``, ``widths=[16, 16]`` and ``width=16,
depth=2``, ``init="kaiming"`` and ``init="he"`` describe the same experiment and must
compare, hash (:attr:`run_id`) and serialise equal. Every field is coerced here, when the
config is built and before it is validated; a value that cannot be coerced is a
:class:`ConfigError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from fastdepth import datasets
from fastdepth.init import INIT_SCHEMES

from .errors import ConfigError
from .values import is_int, is_real

__all__ = ["INT64", "normalise"]

INT64 = 2**63


def _short(v: int) -> str:
    """An integer for a message: a 300-digit typo as ``1e+308``."""
    return str(v) if abs(v) < 10**18 else f"{float(v):.3g}"


def normalise(
    cfg: Any,
    set_field: Callable[[str, Any], None],
    fields: tuple[Sequence[str], Sequence[str], Sequence[str]],
    nullable: frozenset[str],
) -> None:
    """Coerce every field of the (frozen) config ``cfg`` in place through ``set_field``.

    Parameters
    ----------
    cfg : RunConfig
        The config being built (its ``__post_init__``).
    set_field : callable
        ``set_field(name, value)`` stores a field of the frozen dataclass.
    fields : (int fields, float fields, str fields)
        The names of each kind, as :mod:`.run` reads them off the dataclass.
    nullable : frozenset of str
        The fields that accept None.

    Raises
    ------
    ConfigError
        A field of the wrong type (a non-integral ``epochs``, a string ``lr``, ...), an
        integer beyond int64, malformed ``widths`` or ``dataset_params``.
    """
    int_fields, float_fields, str_fields = fields
    for name in int_fields:
        v = getattr(cfg, name)
        if v is None and name in nullable:
            continue
        if is_int(v) or (is_real(v) and float(v).is_integer()):
            v = int(v)
        else:
            raise ConfigError(f"{name} must be an integer, got {v!r}")
        if not -INT64 <= v < INT64:  # stored as int64; anything larger is a typo
            raise ConfigError(f"{name} must be below 2**63, got {_short(v)}")
        set_field(name, v)
    for name in float_fields:
        v = getattr(cfg, name)
        if v is None and name in nullable:
            continue
        if not is_real(v):
            raise ConfigError(f"{name} must be a number, got {v!r}")
        set_field(name, float(v))
    for name in str_fields:
        v = getattr(cfg, name)
        if not isinstance(v, str):
            raise ConfigError(f"{name} must be a string, got {v!r}")
    if not isinstance(cfg.residual, bool | np.bool_):
        raise ConfigError(f"residual must be True or False, got {cfg.residual!r}")
    set_field("residual", bool(cfg.residual))
    if cfg.init in INIT_SCHEMES:  # alias -> canonical name ('kaiming' -> 'he')
        set_field("init", INIT_SCHEMES[cfg.init].name)
    set_field("dataset_params", _dataset_params(cfg.dataset, cfg.dataset_params))
    _widths(cfg, set_field)


def _dataset_params(dataset: str, p: Any) -> tuple[tuple[str, Any], ...]:
    """``dataset_params`` as sorted ``(key, value)`` pairs, values typed like the defaults."""
    if p is None:
        p = ()
    items = p.items() if isinstance(p, Mapping) else p
    try:
        items = [(k, v) for k, v in items]
    except (TypeError, ValueError):
        raise ConfigError(f"dataset_params must be a dict such as {{'k': 4}}, got {p!r}") from None
    out = {}
    defaults = datasets.DATASETS[dataset].params if dataset in datasets.DATASETS else {}
    for k, v in items:
        if not isinstance(k, str):
            raise ConfigError(f"dataset_params keys must be strings, got {k!r}")
        if isinstance(v, list):
            v = tuple(v)
        # match the default's type so turns=2 and turns=2.0 are the same experiment
        d = defaults.get(k)
        if isinstance(d, float) and is_real(v):
            v = float(v)
        elif isinstance(d, int) and not isinstance(d, bool) and is_real(v):
            v = int(v) if float(v).is_integer() else v
        out[k] = v
    return tuple(sorted(out.items()))


def _widths(cfg: Any, set_field: Callable[[str, Any], None]) -> None:
    """One representation of the hidden widths: uniform ones as ``depth`` x ``width``."""
    w = cfg.widths
    if w is None:
        return
    if isinstance(w, str | bytes) or not isinstance(w, Iterable):
        raise ConfigError(f"widths must be a sequence of ints such as (16, 16), got {w!r}")
    w = tuple(w)
    if not all(is_int(x) or (is_real(x) and float(x).is_integer()) for x in w):
        raise ConfigError(f"widths must be integers, got {w!r}")
    w = tuple(int(x) for x in w)
    if any(x >= INT64 for x in w):
        raise ConfigError(f"widths must be below 2**63, got {[_short(x) for x in w]}")
    if len(w) == 0:
        raise ConfigError("widths must list at least one hidden width (depth must be >= 1), got ()")
    set_field("depth", len(w))
    if len(set(w)) == 1:
        # uniform widths are the same network as depth/width: one representation
        set_field("width", w[0])
        set_field("widths", None)
    else:
        set_field("width", max(w))
        set_field("widths", w)
