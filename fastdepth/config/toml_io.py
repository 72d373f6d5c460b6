"""Grid files: a tiny TOML writer, and the reader that turns a file into grid parts.

TOML has no null: ``None`` is written as the string ``"none"`` and read back as ``None``
for the fields that accept it (:data:`fastdepth.config.run.NULLABLE`), here only.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ConfigError
from .run import NULLABLE
from .values import is_int, is_real, is_seq

__all__ = ["GRID_KEYS", "dumps", "grid_parts", "none_to_null", "read"]

GRID_KEYS = ("axes", "base", "zip")

# ----------------------------------------------------------------------------- writing

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _str(k)


def _str(s: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes; DEL must be escaped in TOML
    return json.dumps(s).replace("\x7f", "\\u007f")


def _value(v: Any) -> str:
    if v is None:
        return '"none"'
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if is_int(v):
        return str(int(v))
    if is_real(v):
        x = float(v)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    if is_seq(v):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} to TOML")


def dumps(doc: Mapping[str, Any], prefix: str = "") -> str:
    """Scalars and arrays of a table first, then its sub-tables as ``[a.b]`` sections."""
    lines = []
    tables = []
    for k, v in doc.items():
        if isinstance(v, Mapping):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        out += f"\n[{name}]\n" + dumps(v, name)
    return out


# ----------------------------------------------------------------------------- reading


def read(path: str | os.PathLike, what: str = "grid file") -> dict[str, Any]:
    """The TOML document at ``path``; :class:`ConfigError` if unreadable or not TOML."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:  # text that is not TOML
        raise ConfigError(f"{what} {path} is not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{what} {path} is nested too deeply to be a grid file") from None


def none_to_null(field: str, value: Any) -> Any:
    """``"none"`` -> ``None`` for a field that accepts None (TOML has no null)."""
    return None if (value == "none" and field in NULLABLE) else value


def grid_parts(
    doc: Mapping[str, Any], where: str = "grid file"
) -> tuple[dict[str, Any], dict[str, Any], list]:
    """``(base, axes, zip)`` of a grid document, ``"none"`` read as None; not validated.

    (A file may be completed by other values, e.g. a regression dataset given on the
    command line for a file that sets ``loss = "mse"``.)
    """
    unknown = [k for k in doc if k not in GRID_KEYS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown top-level key {unknown[0]!r}; a grid file has [base], [axes] and zip"
        )
    if not isinstance(doc.get("base", {}), dict) or not isinstance(doc.get("axes", {}), dict):
        raise ConfigError(f"{where}: [base] and [axes] must be tables")
    if not isinstance(doc.get("zip", []), list):
        raise ConfigError(f"{where}: zip must be a list of groups such as [['depth', 'lr']]")
    base = {k: none_to_null(k, v) for k, v in doc.get("base", {}).items()}
    axes = {
        k: [none_to_null(k, x) for x in v] if isinstance(v, list) else none_to_null(k, v)
        for k, v in doc.get("axes", {}).items()
    }
    return base, axes, list(doc.get("zip", []))
