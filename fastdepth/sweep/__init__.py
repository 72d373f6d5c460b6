"""``python -m fastdepth.sweep``: a whole depth study from one command, stored safely, resumable.

::

    python -m fastdepth.sweep --seeds 50           # the original depth study, 500 runs
    python -m fastdepth.sweep --datasets xor --depths 1,2,4 --lrs 1e-3:1:8 --seeds 5
    python -m fastdepth.sweep --resume runs/circle-rings-d1-2-4-6-8-s50-20250101-120000
    python -m fastdepth.sweep --seeds 200 --scheduler local:4        # 4 worker processes
    python -m fastdepth.sweep --seeds 200 --scheduler tcp://head:8786 # a Dask cluster

The grid is built from three layers, later ones winning: the default study
(:data:`DEFAULT_STUDY`, 10 seeds), the ``--config`` TOML file, the flags. It is trained chunk
by chunk (:func:`fastdepth.engine.train_many`) into a :class:`fastdepth.store.Store`, which
makes the sweep resumable after a crash, Ctrl-C or SIGKILL. At the end the across-seeds
summary (:mod:`fastdepth.summary`) is printed and saved in the store. With ``--scheduler``
the chunks are trained by Dask workers and committed by this process into the same store
(:mod:`fastdepth.distributed`).

Exit codes: 0 done (or dry run), 2 invalid command or a store that refuses it (lock held,
different grid), 130 interrupted (resumable), 143 terminated (SIGTERM; resumable).

Modules:

=============  ==============================================================
:mod:`.flags`  one list flag per RunConfig field, ``--set``, the default study
:mod:`.args`   the parser, the grid and store path a command line names
:mod:`.cli`    :func:`main`: plan, dry run, lock, train, summary, messages
=============  ==============================================================

Training itself is :mod:`fastdepth.runner`, shared with :mod:`fastdepth.distributed`.
"""

from __future__ import annotations

from fastdepth.runner.session import DEFAULT_CHUNK_SIZE, Plan, UsageError

from .args import PROG, build_grid, default_out, make_parser
from .cli import _dry_run as _dry_run  # the tests check these messages
from .cli import _resume_hint as _resume_hint
from .cli import main, plan
from .flags import DEFAULT_SEEDS, DEFAULT_STUDY, GRID_FLAGS

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_SEEDS",
    "DEFAULT_STUDY",
    "GRID_FLAGS",
    "PROG",
    "Plan",
    "UsageError",
    "build_grid",
    "default_out",
    "main",
    "make_parser",
    "plan",
]
