"""fastdepth: study how network depth shapes learning, thousands of small networks at a time.

>>> import fastdepth as fd
>>> res = fd.train(fd.RunConfig(dataset="circle", depth=2, epochs=50))
>>> res.status
'ok'
"""

from __future__ import annotations

__version__ = "0.1.0"

# first: a command line's Ctrl-C during the imports below prints one line (see the module)
from . import _cli_interrupt  # noqa: F401, I001
from . import datasets, init, kernels, metrics
from .config import ConfigError, Grid, RunConfig, parse_lrs, parse_seeds
from .engine import train, train_many
from .result import RunResult
from .store import load, load_curves

__all__ = [
    "ConfigError",
    "Grid",
    "RunConfig",
    "RunResult",
    "datasets",
    "init",
    "kernels",
    "load",
    "load_curves",
    "metrics",
    "parse_lrs",
    "parse_seeds",
    "train",
    "train_many",
]
