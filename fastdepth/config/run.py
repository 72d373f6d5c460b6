"""One network trained once: the frozen, validated :class:`RunConfig`.

A :class:`RunConfig` is validated when it is built (:mod:`.validate`), so an invalid run
fails in Python with an actionable message (:class:`ConfigError`) before any kernel runs.
Its :attr:`RunConfig.run_id` is a hash of its *canonical* form (:mod:`.identity`), where
every default is resolved and fields without effect are dropped, so two configs
describing the same experiment get the same id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from fastdepth import datasets
from fastdepth.init import init_params
from fastdepth.kernels import telemetry
from fastdepth.kernels.layout import Layout
from fastdepth.kernels.vocab import ACTIVATIONS

from . import cost, identity
from .errors import unknown
from .normalise import normalise
from .validate import validate

__all__ = ["DEFAULTS", "FIELD_KINDS", "FIELD_NAMES", "NULLABLE", "RunConfig"]


@dataclass(frozen=True)
class RunConfig:
    """One network trained once: data, architecture, init, optimizer, telemetry, seed.

    Parameters
    ----------
    dataset : str
        A key of :data:`fastdepth.datasets.DATASETS`.
    n_train, n_test : int
        Training and test points (independent draws, see :func:`datasets.make_split`).
    noise : float or None
        Dataset noise; ``None`` = the dataset's documented default.
    data_seed : int
        Seed of the data draw (separate from ``seed`` so the data can be held fixed).
    dataset_params : dict
        Extra dataset parameters, e.g. ``{'k': 4}``. Stored as a sorted tuple of items so
        the config stays hashable; :attr:`dataset_kwargs` gives the dict back.
    depth, width : int
        Number of hidden layers and their width (the output layer is always added).
    widths : tuple of int or None
        Explicit hidden widths; overrides ``depth`` / ``width`` (then ``depth = len(widths)``).
        Uniform widths are normalised to ``depth`` / ``width`` (``widths=None``); for
        non-uniform widths ``width`` is set to ``max(widths)`` (informational only).
    activation : str
        A name in :data:`fastdepth.kernels.vocab.ACTIVATIONS`.
    alpha : float or None
        Slope of ``leaky_relu`` / scale of ``elu``; ``None`` = the entry's ``alpha`` default.
        An error with any other activation (it would have no effect).
    residual : bool
        Residual connections. Hidden layer 1 maps the input to the width and is never
        skipped. Hidden layers 2.. are grouped into blocks of ``residual_block`` consecutive
        layers; a block's input is added to its LAST layer's pre-activation before the
        activation: ``h_out = act(z_last + h_in)``. ``residual_block=2`` gives the classic
        ``relu(x + W2 relu(W1 x))``. Leftover layers at the end that do not fill a block are
        plain (so with ``depth < 1 + residual_block`` the network has no skip at all).
        Needs equal hidden widths.
    residual_block : int
        Hidden layers per residual block, >= 1.
    residual_init : {'none', 'zero', 'scaled'}
        Residual networks only: the last layer of each block as drawn (``none``), zeroed
        so every block starts as the identity (``zero``), or scaled by ``1/sqrt(B)`` for
        ``B`` blocks (``scaled``); see :mod:`fastdepth.init`. The other layers keep the
        weights of ``none``, so the three start from comparable networks.
    init : str
        A key of :data:`fastdepth.init.INIT_SCHEMES`; aliases are normalised
        (``'kaiming'`` -> ``'he'``, ``'glorot'`` -> ``'xavier'``, ...).
    gain : float or None
        Weight scale of every scheme but ``meanfield`` (None = 1).
    sigma_w2, sigma_b2 : float or None
        ``meanfield`` only: weight variance times fan_in (required), bias variance (0).
    loss : {'bce', 'mse'}
        ``bce`` for classification datasets, ``mse`` for regression.
    optimizer : {'sgd', 'momentum', 'adam'}
    lr : float
        Learning rate, > 0.
    momentum : float
        In [0, 1); used by ``momentum`` only.
    beta1, beta2, eps : float
        Adam only; betas in [0, 1), ``eps > 0``.
    weight_decay : float
        L2 penalty coefficient, >= 0.
    clip : float or None
        Maximum total gradient norm (rescale above it); ``None`` = off.
    schedule : {'constant', 'cosine'}
        Learning-rate schedule over all ``n_steps``.
    batch_size : int or None
        Minibatch size in ``[1, n_train]``; ``None`` = full batch. An epoch is
        ``ceil(n_train / batch_size)`` steps, the last batch possibly smaller.
    epochs : int
        Passes over the training set (= steps for full batch).
    log_every, eval_every : int
        Telemetry periods in steps (see :attr:`n_log_points`, :attr:`n_eval_points`).
    dtype : {'float64', 'float32'}
    seed : int
        Seed of the initial weights and the minibatch order (see :meth:`init_key`,
        :meth:`data_key`).
    snapshot_every : int
        Keep a copy of all the weights every ``snapshot_every`` steps and after the last
        one (for :func:`fastdepth.plots.boundary_animation`); 0 = off. Costs
        :attr:`n_snapshot_points` x ``n_params`` floats of memory and store space.
    sharpness_every : int
        Measure the sharpness (top Hessian eigenvalues of the mean loss on the whole
        training set, also for minibatch runs) every ``sharpness_every`` steps and after
        the last one; 0 = off. Each measurement is up to ``sharpness_iters``
        Hessian-vector products, about 2 gradients each (see ``docs/curvature.md``).
    sharpness_k : int
        Eigenvalues per measurement, 1 to 4 (the largest algebraic ones).
    sharpness_iters : int
        Lanczos budget per measurement (Hessian-vector products), ``>= sharpness_k``.
    sharpness_tol : float
        Lanczos stops early once every residual is ``<= sharpness_tol`` times the
        spectral-norm estimate; 0 = always ``sharpness_iters`` products.
    lr_rule : {'fixed', 'sharpness'}
        ``fixed``: the rate is ``lr``. ``sharpness``: the rate is ``lr / lambda_0``, with
        ``lambda_0`` the sharpness of the network's own initial weights (measured in the
        trainer before the first step, with the ``sharpness_*`` settings); ``lr = 1`` is
        half the classical stability limit ``2 / lambda_0`` of gradient descent. A
        network with ``lambda_0 <= 0`` or not finite ends with status ``no_curvature``.
    count_regions : {'off', 'segment', 'grid'}
        Count the linear regions of the initial and the final network (the ``regions_init``
        / ``regions_final`` of :attr:`RunResult.summary` and of the runs table), with
        :mod:`fastdepth.analysis`: ``segment`` exactly along the data range (1-D data) or
        the diagonal of the data's bounding box (2-D), ``grid`` estimated by the distinct
        activation patterns on a ``regions_resolution`` x ``regions_resolution`` grid over
        the bounding box (2-D data only). Needs a piecewise-linear activation (identity,
        relu, leaky_relu). ``off`` (default) counts nothing.
    regions_resolution : int
        Grid points per axis of ``count_regions='grid'``, in ``[2, 4096]``; ignored
        otherwise. The default 256 costs about 16 ms per count for a depth-8, width-16
        network (``docs/analysis.md``).

    Raises
    ------
    ConfigError
        On construction, for any invalid field or combination (see :meth:`validate`).
    """

    dataset: str = "circle"
    n_train: int = 1000
    n_test: int = 1000
    noise: float | None = None
    data_seed: int = 0
    dataset_params: Any = ()
    depth: int = 4
    width: int = 16
    widths: tuple[int, ...] | None = None
    activation: str = "relu"
    alpha: float | None = None
    residual: bool = False
    residual_block: int = 2
    residual_init: str = "none"
    init: str = "he"
    gain: float | None = None
    sigma_w2: float | None = None
    sigma_b2: float | None = None
    loss: str = "bce"
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip: float | None = None
    schedule: str = "constant"
    batch_size: int | None = None
    epochs: int = 1000
    log_every: int = 1
    eval_every: int = 50
    dtype: str = "float64"
    seed: int = 0
    snapshot_every: int = 0
    sharpness_every: int = 0
    sharpness_k: int = 1
    sharpness_iters: int = 20
    sharpness_tol: float = 1e-4
    lr_rule: str = "fixed"
    count_regions: str = "off"
    regions_resolution: int = 256

    # ------------------------------------------------------------------ construction

    def __post_init__(self) -> None:
        self._normalise()
        self.validate()

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _normalise(self) -> None:
        """Coerce types so equal experiments compare, hash and serialise equal."""
        normalise(self, self._set, _COERCED, NULLABLE)

    def validate(self) -> None:
        """Check every field and combination; raise :class:`ConfigError` saying what to change.

        Called by ``__post_init__``, so an existing ``RunConfig`` is always valid.
        """
        validate(self)

    # ------------------------------------------------------------------ derived values

    @property
    def dataset_kwargs(self) -> dict[str, Any]:
        """``dataset_params`` as a dict (only the keys that were set)."""
        return dict(self.dataset_params)

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        """Width of every hidden layer, length ``depth``."""
        return self.widths if self.widths is not None else (self.width,) * self.depth

    @property
    def n_in(self) -> int:
        """Input dimension of the dataset."""
        return datasets.DATASETS[self.dataset].n_in

    @property
    def task(self) -> str:
        """``'classification'`` or ``'regression'`` (from the dataset)."""
        return datasets.DATASETS[self.dataset].task

    @property
    def np_dtype(self) -> np.dtype:
        """``dtype`` as a NumPy dtype."""
        return np.dtype(self.dtype)

    @property
    def rblock(self) -> int:
        """Hidden layers per residual block as the kernels take it: 0 for a plain network."""
        return self.residual_block if self.residual else 0

    @property
    def effective_alpha(self) -> float:
        """Activation parameter the kernels get: ``alpha``, its default, or 0.0 (unused)."""
        if self.alpha is not None:
            return self.alpha
        default = ACTIVATIONS.entry(self.activation).alpha
        return 0.0 if default is None else float(default)

    def layout(self) -> Layout:
        """Packed-parameter layout: ``Layout(n_in, hidden_widths, n_out=1)``."""
        return Layout(self.n_in, self.hidden_widths, 1)

    @property
    def batch(self) -> int:
        """Effective minibatch size (``n_train`` for full batch)."""
        return self.n_train if self.batch_size is None else self.batch_size

    @property
    def steps_per_epoch(self) -> int:
        """``ceil(n_train / batch)``; 1 for full batch."""
        return -(-self.n_train // self.batch)

    @property
    def n_steps(self) -> int:
        """Total optimizer steps: ``epochs * steps_per_epoch``."""
        return self.epochs * self.steps_per_epoch

    @property
    def n_log_points(self) -> int:
        """Loss / gradient-norm records: steps ``s < n_steps`` with ``s % log_every == 0``."""
        return telemetry.n_log_points(self.n_steps, self.log_every)

    @property
    def n_eval_points(self) -> int:
        """Evaluations: after ``s`` updates for ``s`` in {0, e, 2e, ...} and ``s = n_steps``."""
        return telemetry.n_eval_points(self.n_steps, self.eval_every)

    @property
    def n_snapshot_points(self) -> int:
        """Weight snapshots: after ``s`` updates for ``s`` in {0, K, 2K, ...} and ``s =
        n_steps``, for ``K = snapshot_every``; 0 when off."""
        return telemetry.n_snapshot_points(self.n_steps, self.snapshot_every)

    @property
    def measures_sharpness(self) -> bool:
        """Whether the trainer runs Lanczos for this run (telemetry or the rate rule)."""
        return self.sharpness_every > 0 or self.lr_rule == "sharpness"

    def telemetry_layout(self, units: str = "dead") -> telemetry.TelemetryLayout:
        """The kernels' layout of this run's telemetry (``units``: the eval columns' names)."""
        lay = self.layout()
        return telemetry.TelemetryLayout(
            lay.n_layers, self.n_steps, self.log_every, self.eval_every, lay.n_params,
            self.snapshot_every, units, self.sharpness_every, self.sharpness_k,
            self.lr_rule == "sharpness",
        )  # fmt: skip

    def memory_bytes(self) -> int:
        """Bytes this run's telemetry and parameter state need (see :meth:`Grid.memory_bytes`)."""
        return cost.memory_bytes(self)

    def flops(self, include_eval: bool = True) -> int:
        """Estimated FLOPs of the run (see :meth:`Grid.estimated_flops`)."""
        return cost.flops(self, include_eval)

    # ------------------------------------------------------------------ identity and keys

    def canonical_dict(self) -> dict[str, Any]:
        """The experiment this config describes, with defaults resolved.

        Defaults are filled in (``noise``, dataset parameters, ``alpha``, ``gain``,
        ``sigma_b2``), widths expanded to a list, and fields without effect dropped
        (optimizer fields the optimizer does not read, e.g. ``momentum`` unless
        optimizer='momentum' and ``beta1/beta2/eps`` unless 'adam'; ``alpha`` for
        activations without it, ``residual_block`` without residual, ``gain`` or
        ``sigma_*`` for the schemes that ignore them, ``regions_resolution`` unless
        ``count_regions='grid'``; ``snapshot_every`` and ``count_regions`` when off).
        """
        return identity.canonical_dict(self)

    @cached_property
    def canonical_json(self) -> str:
        """``canonical_dict()`` as JSON: keys sorted, floats as ``repr(float(x))``."""
        return json.dumps(
            self.canonical_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False
        )

    @cached_property
    def run_id(self) -> str:
        """First 16 hex digits of the SHA-256 of :attr:`canonical_json`."""
        return hashlib.sha256(self.canonical_json.encode()).hexdigest()[:16]

    def init_key(self) -> int:
        """Seed of the initial weights, in ``[0, 2**63)``.

        Hashes only what determines the initial weights: ``n_in``, hidden widths, init
        scheme, ``gain`` / ``sigma_w2`` / ``sigma_b2`` (resolved) and ``seed``. Runs that
        differ only in lr, optimizer, epochs, activation, dtype, ... therefore start from the
        same weights: a controlled comparison. ``dtype`` is left out on purpose: weights are
        drawn in float64 and cast, so float32 and float64 twins start from the same numbers.
        ``residual_init`` is left out too: it rescales block ends *after* the draws, so a
        plain net and its ``none`` / ``zero`` / ``scaled`` residual twins share every draw.
        """
        return identity.init_key(self)

    def data_key(self) -> int:
        """Seed of the minibatch-order stream, in ``[0, 2**63)``.

        Hashes ``seed``, ``batch_size`` and the dataset fields (name, resolved noise and
        parameters, ``n_train``, ``n_test``, ``data_seed``).
        """
        return identity.data_key(self)

    # ------------------------------------------------------------------ materialise

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(X_train, y_train, X_test, y_test)`` float64 via :func:`datasets.make_split`."""
        return datasets.make_split(
            self.dataset,
            self.n_train,
            self.n_test,
            noise=self.noise,
            seed=self.data_seed,
            **self.dataset_kwargs,
        )

    def initial_params(self) -> np.ndarray:
        """Initial packed parameters, shape ``(n_params,)``, dtype ``dtype``.

        Drawn by :func:`fastdepth.init.init_params` from ``default_rng(init_key())``.
        """
        return init_params(
            self.layout(),
            self.init,
            np.random.default_rng(self.init_key()),
            gain=self.gain,
            sigma_w2=self.sigma_w2,
            sigma_b2=self.sigma_b2,
            dtype=self.np_dtype,
            residual=self.rblock,
            residual_init=self.residual_init,
        )

    # ------------------------------------------------------------------ (de)serialise

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain JSON / TOML types (``widths`` a list, ``dataset_params`` a dict)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["dataset_params"] = self.dataset_kwargs
        if self.widths is not None:
            d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        """Build from a (possibly partial) dict; unknown keys raise with a suggestion."""
        for k in d:
            if k not in DEFAULTS:
                raise unknown("RunConfig field", k, FIELD_NAMES)
        return cls(**d)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` applied (and validated).

        Setting ``depth`` or ``width`` without ``widths`` clears explicit ``widths``, so
        ``cfg.replace(depth=8)`` always gives 8 hidden layers.
        """
        for k in changes:
            if k not in DEFAULTS:
                raise unknown("RunConfig field", k, FIELD_NAMES)
        if ("depth" in changes or "width" in changes) and "widths" not in changes:
            changes["widths"] = None
        return dataclasses.replace(self, **changes)


# The fields, their defaults and kinds, read off the dataclass: the one statement of them.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(RunConfig)}
FIELD_NAMES: tuple[str, ...] = tuple(DEFAULTS)
_TYPES = {f.name: str(f.type) for f in dataclasses.fields(RunConfig)}
# Fields that accept None (TOML has no null: its files spell it "none").
NULLABLE: frozenset[str] = frozenset(k for k, t in _TYPES.items() if t.endswith(" | None"))
_KIND = {k: t.removesuffix(" | None") for k, t in _TYPES.items()}
# The int, float and str fields, which :func:`.normalise.normalise` coerces.
_COERCED = tuple(
    tuple(k for k, t in _KIND.items() if t == kind) for kind in ("int", "float", "str")
)
# The kind of every field, for parsers: int, float, str, bool, widths, dataset_params.
FIELD_KINDS: dict[str, str] = {
    k: {"widths": "widths", "dataset_params": "dataset_params"}.get(k, t) for k, t in _KIND.items()
}
