"""fastdepth: study how network depth shapes learning, thousands of small networks at a time.

>>> import fastdepth as fd
>>> res = fd.train(fd.RunConfig(dataset="circle", depth=2, epochs=50))
>>> res.status
'ok'
"""

from __future__ import annotations

__version__ = "0.1.0"

# first: a command line's Ctrl-C during the imports below prints one line, and its cyclic
# GC is off until _cli_gc.resume() below (see the modules)
from . import _cli_interrupt, _cli_gc  # noqa: F401, I001
from . import datasets, init, kernels, metrics
from .config import ConfigError, Grid, RunConfig, parse_lrs, parse_seeds
from .engine import train, train_many
from .result import RunResult, Snapshots
from .store import frame, load, load_curves, load_layers, load_snapshots
from . import sweep  # noqa: E402  (callable: fastdepth.sweep(grid, out); see the package)

_cli_gc.resume()

__all__ = [
    "ConfigError",
    "Grid",
    "RunConfig",
    "RunResult",
    "Snapshots",
    "datasets",
    "frame",
    "init",
    "kernels",
    "load",
    "load_curves",
    "load_layers",
    "load_snapshots",
    "metrics",
    "parse_lrs",
    "parse_seeds",
    "plots",
    "sweep",
    "train",
    "train_many",
]


def __getattr__(name: str):
    # fastdepth.plots on first use: importing matplotlib costs ~0.3 s that training,
    # sweeping and loading do not need.
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
