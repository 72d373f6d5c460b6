"""Plain values: what counts as an integer or a number, and NumPy / ranges to plain Python.

Numbers from TOML, JSON, the command line or NumPy arrive in many types; the config
layer turns them into plain ``int`` / ``float`` / ``list`` so that equality, hashing and
the canonical JSON of a run are stable.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["is_int", "is_real", "is_seq", "plain"]


def is_int(x: Any) -> bool:
    """An integral number that is not a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool | np.bool_)


def is_real(x: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_)


def is_seq(v: Any) -> bool:
    """A list, tuple, range or array (a grid axis or a widths value)."""
    return isinstance(v, list | tuple | range | np.ndarray)


def plain(v: Any) -> Any:
    """NumPy scalars / tuples / ranges -> plain Python values and lists (TOML/JSON friendly)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    if is_seq(v):
        return [plain(x) for x in v]
    return v
