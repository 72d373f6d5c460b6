"""Parsers of command-line values: lists, integer ranges, log grids, seed counts, any field.

One syntax everywhere: values are comma separated; an integer item ``a:b`` is
``a, a+1, ..., b`` and ``a:b:step`` is ``a, a+step, ...`` up to ``b``, both ends
included (``--depths 1:8`` is depths 1 to 8, as a log grid ``lo:hi:n`` includes ``hi``);
a real item ``lo:hi:n`` is ``n`` log-spaced values from ``lo`` to ``hi`` inclusive; ``none``
is None for the fields that accept it. :func:`parse_field` parses any
:class:`~fastdepth.config.RunConfig` field by its kind.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["parse_field", "parse_floats", "parse_ints", "parse_lrs", "parse_seeds"]


def parse_floats(text: str, what: str = "numbers") -> list[float]:
    """Parse reals: ``'0.01,0.1'`` or a log grid ``'lo:hi:n'`` (both ends inclusive).

    Items are comma separated and may be mixed: ``'1e-3:1:24'`` gives 24 log-spaced values
    from 0.001 to 1; ``'0.5,1e-3:1e-1:3'`` gives 0.5, 0.001, 0.01, 0.1. Log-grid values are
    rounded to 12 significant digits so run ids do not hinge on the last ulp.

    Returns
    -------
    list of float

    Raises
    ------
    ValueError
        Naming the item that cannot be parsed and the accepted forms.
    """
    out: list[float] = []
    for item in (s.strip() for s in str(text).split(",")):
        if not item:
            continue
        parts = item.split(":")
        try:
            if len(parts) == 1:
                out.append(float(parts[0]))
                continue
            if len(parts) != 3:
                raise ValueError
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(
                f"cannot parse {what} {item!r}: use numbers '0.01,0.1' or a log grid "
                "'lo:hi:n' such as '1e-3:1:24'"
            ) from None
        if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)) or n < 1:
            raise ValueError(f"log grid {item!r} needs lo > 0, hi > 0 and n >= 1")
        out.extend(float(f"{x:.12g}") for x in np.geomspace(lo, hi, n))
    if not out:
        raise ValueError(f"no {what} in {text!r}")
    return out


def parse_lrs(text: str) -> list[float]:
    """Parse learning rates: ``'0.01,0.1'`` or a log grid ``'lo:hi:n'`` (see :func:`parse_floats`).

    Returns
    -------
    list of float
    """
    return parse_floats(text, "learning rates")


def _int(text: str) -> int:
    return int(text.strip())


def parse_ints(text: str, what: str = "integers") -> list[int] | range:
    """Parse integers: ``'1,2,4'``, ranges ``'1:8'`` (1..8) and ``'0:20:5'`` (0, 5, ..., 20),
    or a mix; both ends of a range are included.

    Returns
    -------
    range or list of int
        A ``range`` when the text is one range (so its length is known without listing it).

    Raises
    ------
    ValueError
        Naming the item that cannot be parsed and the accepted forms.
    """
    items = [s.strip() for s in str(text).split(",")]
    if not all(items):
        raise ValueError(f"empty value in {text!r}; give a comma-separated list such as 1,2,4")
    ranges: list[range] = []
    for item in items:
        parts = item.split(":")
        try:
            if len(parts) == 1:
                v = _int(parts[0])
                ranges.append(range(v, v + 1))
            elif len(parts) in (2, 3):
                a, b = _int(parts[0]), _int(parts[1])
                step = _int(parts[2]) if len(parts) == 3 else 1
                if step < 1 or b < a:
                    raise ValueError
                ranges.append(range(a, b + 1, step))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"cannot parse {what} {item!r}: use integers '1,2,4', a range 'a:b' "
                "(a, a+1, ..., b, both included, a <= b) or 'a:b:step' with step >= 1, e.g. "
                "'1:8' or '0:20:5'"
            ) from None
    if len(ranges) == 1 and len(ranges[0]) > 1:
        return ranges[0]
    return [v for r in ranges for v in r]


def parse_seeds(text: str) -> range | list[int]:
    """Parse seeds: a count ``'50'`` -> ``range(50)``, else :func:`parse_ints` (``'10:19'``
    is seeds 10..19, ``'1,5,9'``, ``'0:90:10'``), all non-negative.

    Raises
    ------
    ValueError
        For anything else, with the accepted forms.
    """
    s = str(text).strip()
    try:
        if s.isdigit() or (s[:1] == "+" and s[1:].isdigit()):
            n = int(s)
            if n >= 1:
                return range(n)
            raise ValueError
        seeds = parse_ints(s)
        if len(seeds) and min(seeds) >= 0:
            return seeds
    except ValueError:
        pass
    raise ValueError(
        f"cannot parse seeds {text!r}: use a count '50' (seeds 0..49), a range '10:19' "
        "(seeds 10..19, both ends included) or a list '1,5,9' of non-negative integers"
    )


def _none(field: str, item: str) -> bool:
    from .run import NULLABLE

    return field in NULLABLE and item.strip().lower() in ("none", "null", "full")


def parse_field(field: str, text: str) -> list[Any]:
    """The values of ``field`` given as text (``--set field=text``), as a grid axis.

    Integers and reals as :func:`parse_ints` / :func:`parse_floats`, booleans
    ``true/false`` (``yes/no``, ``1/0``), strings as they are, ``none`` for None where
    the field accepts it; ``widths`` as ``16x8,32x32`` (one network per item); a
    ``dataset_params`` key as ``dataset_params.k=2,4``.

    Raises
    ------
    ValueError
        For an unknown field (with a suggestion) or a value of the wrong kind.
    """
    from .errors import unknown
    from .run import FIELD_KINDS

    name, _, key = field.partition(".")
    if name not in FIELD_KINDS:
        raise unknown("field", field, FIELD_KINDS)
    kind = FIELD_KINDS[name]
    if kind == "dataset_params":
        if not key:
            raise ValueError("give one dataset parameter at a time: dataset_params.k=2,4")
        return [{key: v} for v in _auto(text)]
    if key:
        raise ValueError(f"{name} has no sub-fields; use {name}=VALUES")
    items = [s.strip() for s in str(text).split(",")]
    if not all(items):
        raise ValueError(f"empty value in {text!r}; give a comma-separated list")
    out: list[Any] = []
    for x in items:
        if _none(name, x):
            out.append(None)
        elif kind == "int":
            out.extend(parse_ints(x, name))
        elif kind == "float":
            out.extend(parse_floats(x, "learning rates" if name == "lr" else name))
        elif kind == "bool":
            out.append(_bool(name, x))
        elif kind == "widths":
            out.append(_widths(x))
        elif kind == "str":
            out.append(x)
        else:  # a kind this parser does not know is a bug, not a string
            raise AssertionError(f"no parser for {name} ({kind})")
    return out


def _widths(item: str) -> list[int]:
    try:
        return [_int(w) for w in item.split("x")]
    except ValueError:
        raise ValueError(
            f"cannot parse widths {item!r}: give hidden widths as 16x8 (two layers), "
            "several networks comma separated: 16x8,32x32"
        ) from None


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _bool(name: str, item: str) -> bool:
    if item.lower() in _TRUE:
        return True
    if item.lower() in _FALSE:
        return False
    raise ValueError(f"{name} is true or false, got {item!r}")


def _auto(text: str) -> list[Any]:
    """Dataset parameters: integers, reals or strings, whichever each item parses as."""
    out: list[Any] = []
    for item in (s.strip() for s in str(text).split(",")):
        for conv in (int, float):
            try:
                out.append(conv(item))
                break
            except ValueError:
                continue
        else:
            out.append(item)
    return out
