"""Run and grid configuration: one frozen :class:`RunConfig` per network, :class:`Grid` of many.

=================  ==========================================================
:mod:`.run`        :class:`RunConfig`: fields, defaults, normalisation
:mod:`.validate`   every field and combination checked (vocabularies from
                   :mod:`fastdepth.kernels.vocab`)
:mod:`.identity`   canonical form, ``run_id``, init and data keys
:mod:`.cost`       memory and FLOP estimates, the memory check
:mod:`.grid`       :class:`Grid`: axes crossed or zipped over a base
:mod:`.toml_io`    grid files: TOML writer and reader
:mod:`.parse`      command-line values: :func:`parse_lrs`, :func:`parse_seeds`
=================  ==========================================================
"""

from __future__ import annotations

from .cost import check_memory
from .errors import ConfigError
from .grid import Grid
from .parse import parse_lrs, parse_seeds
from .run import DEFAULTS, FIELD_NAMES, NULLABLE, RunConfig
from .validate import DTYPES, REGION_COUNTS

__all__ = [
    "DEFAULTS",
    "DTYPES",
    "FIELD_NAMES",
    "NULLABLE",
    "REGION_COUNTS",
    "ConfigError",
    "Grid",
    "RunConfig",
    "check_memory",
    "parse_lrs",
    "parse_seeds",
]
