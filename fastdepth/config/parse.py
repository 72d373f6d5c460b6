"""Parsers of command-line values: learning-rate lists and log grids, seed counts and ranges."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["parse_lrs", "parse_seeds"]


def parse_lrs(text: str) -> list[float]:
    """Parse learning rates: ``'0.01,0.1'`` or a log grid ``'lo:hi:n'`` (both inclusive).

    Items are comma separated and may be mixed: ``'1e-3:1:24'`` gives 24 log-spaced values
    from 0.001 to 1; ``'0.5,1e-3:1e-1:3'`` gives 0.5, 0.001, 0.01, 0.1. Log-grid values are
    rounded to 12 significant digits so run ids do not hinge on the last ulp.

    Returns
    -------
    list of float
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
                f"cannot parse learning rates {item!r}: use numbers '0.01,0.1' or a log grid "
                "'lo:hi:n' such as '1e-3:1:24'"
            ) from None
        if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)) or n < 1:
            raise ValueError(f"log grid {item!r} needs lo > 0, hi > 0 and n >= 1")
        out.extend(float(f"{x:.12g}") for x in np.geomspace(lo, hi, n))
    if not out:
        raise ValueError(f"no learning rates in {text!r}")
    return out


def parse_seeds(text: str) -> range | list[int]:
    """Parse seeds: ``'50'`` -> ``range(50)``, ``'10:20'`` -> ``range(10, 20)``, ``'1,5,9'``."""
    s = str(text).strip()
    try:
        if "," in s:
            seeds = [int(x) for x in s.split(",") if x.strip()]
            if seeds and min(seeds) >= 0:
                return seeds
            raise ValueError
        if ":" in s:
            a, b = (int(x) for x in s.split(":"))
            if 0 <= a < b:
                return range(a, b)
            raise ValueError
        n = int(s)
        if n >= 1:
            return range(n)
    except ValueError:
        pass
    raise ValueError(
        f"cannot parse seeds {text!r}: use a count '50' (seeds 0..49), a range '10:20' "
        "(seeds 10..19) or a list '1,5,9' of non-negative integers"
    )
