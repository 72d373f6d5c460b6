"""Run and grid configuration: one frozen :class:`RunConfig` per network, :class:`Grid` of many.

A :class:`RunConfig` is validated when it is built, so an invalid run fails in Python with an
actionable message (:class:`ConfigError`) before any kernel runs. Its :attr:`RunConfig.run_id`
is a hash of its *canonical* form, where every default is resolved and fields without
effect are dropped, so two configs describing the same experiment get the same id.

A :class:`Grid` crosses (or zips) lists of field values on top of a base config, validates
every expanded run when it is built, and estimates memory and FLOPs before anything runs::

    grid = Grid({"depth": [1, 2, 4, 6, 8], "seed": range(50)},
                base={"dataset": "rings", "epochs": 1000, "log_every": 1})
    grid.check_memory()
    for cfg in grid: ...
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from fastdepth import datasets
from fastdepth.init import INIT_SCHEMES, check_init_args, check_residual_init, init_params
from fastdepth.kernels import settings
from fastdepth.kernels.layout import FAN_IN, FAN_OUT, Layout
from fastdepth.kernels.telemetry import telemetry_size
from fastdepth.kernels.vocab import unknown_message

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - python 3.10 (setup.cfg installs tomli)
    import tomli as tomllib

__all__ = ["ConfigError", "Grid", "RunConfig", "parse_lrs", "parse_seeds"]

DTYPES = ("float64", "float32")
# Optimizer state vectors per parameter (velocity; first and second moments).
_OPT_STATE = {"sgd": 0, "momentum": 1, "adam": 2}
# Misspellings difflib cannot guess from a short target name.
_FIELD_ALIASES = {
    "learning_rate": "lr",
    "n_epochs": "epochs",
    "num_epochs": "epochs",
    "n_layers": "depth",
    "num_layers": "depth",
    "hidden": "widths",
    "hidden_widths": "widths",
    "init_scheme": "init",
    "initializer": "init",
    "batch": "batch_size",
    "noise_level": "noise",
    "dataset_seed": "data_seed",
}


class ConfigError(ValueError):
    """An invalid run or grid configuration; the message says what to change."""


def _unknown(kind: str, value: Any, valid: Iterable[str]) -> ConfigError:
    """``unknown activation 'rleu'; did you mean 'relu'? valid: identity, relu, ...``."""
    return ConfigError(unknown_message(kind, value, valid, _FIELD_ALIASES))


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool | np.bool_)


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_)


# Fields by kind, for coercion (numpy scalars and integral floats from TOML/JSON/CLI become
# plain Python ints and floats, so equality, hashing and the canonical JSON are stable).
_INT_FIELDS = (
    "n_train",
    "n_test",
    "data_seed",
    "depth",
    "width",
    "residual_block",
    "batch_size",
    "epochs",
    "log_every",
    "eval_every",
    "seed",
)
_FLOAT_FIELDS = (
    "noise",
    "alpha",
    "gain",
    "sigma_w2",
    "sigma_b2",
    "lr",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "weight_decay",
    "clip",
)
_STR_FIELDS = (
    "dataset",
    "activation",
    "residual_init",
    "init",
    "loss",
    "optimizer",
    "schedule",
    "dtype",
)
_NULLABLE = (
    "noise",
    "widths",
    "alpha",
    "gain",
    "sigma_w2",
    "sigma_b2",
    "clip",
    "batch_size",
)


def _key(tag: str, payload: Mapping[str, Any]) -> int:
    """A 63-bit integer (fits int64, non-negative) from a tagged hash of ``payload``."""
    text = tag + "\0" + json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


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
        A key of ``settings.ACTIVATIONS``.
    alpha : float or None
        Slope of ``leaky_relu`` / scale of ``elu``; ``None`` = ``settings.DEFAULT_ALPHA``.
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

    # ------------------------------------------------------------------ construction

    def __post_init__(self) -> None:
        self._normalise()
        self.validate()

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _normalise(self) -> None:
        """Coerce types so equal experiments compare, hash and serialise equal."""
        for name in _INT_FIELDS:
            v = getattr(self, name)
            if v is None and name in _NULLABLE:
                continue
            if _is_int(v) or (_is_real(v) and float(v).is_integer()):
                self._set(name, int(v))
            else:
                raise ConfigError(f"{name} must be an integer, got {v!r}")
        for name in _FLOAT_FIELDS:
            v = getattr(self, name)
            if v is None and name in _NULLABLE:
                continue
            if not _is_real(v):
                raise ConfigError(f"{name} must be a number, got {v!r}")
            self._set(name, float(v))
        for name in _STR_FIELDS:
            v = getattr(self, name)
            if not isinstance(v, str):
                raise ConfigError(f"{name} must be a string, got {v!r}")
        if not isinstance(self.residual, bool | np.bool_):
            raise ConfigError(f"residual must be True or False, got {self.residual!r}")
        self._set("residual", bool(self.residual))
        if self.init in INIT_SCHEMES:  # alias -> canonical name ('kaiming' -> 'he')
            self._set("init", INIT_SCHEMES[self.init].name)
        self._normalise_dataset_params()
        self._normalise_widths()

    def _normalise_dataset_params(self) -> None:
        p = self.dataset_params
        if p is None:
            p = ()
        items = p.items() if isinstance(p, Mapping) else p
        try:
            items = [(k, v) for k, v in items]
        except (TypeError, ValueError):
            raise ConfigError(
                f"dataset_params must be a dict such as {{'k': 4}}, got {p!r}"
            ) from None
        out = {}
        defaults = (
            datasets.DATASETS[self.dataset].params if self.dataset in datasets.DATASETS else {}
        )
        for k, v in items:
            if not isinstance(k, str):
                raise ConfigError(f"dataset_params keys must be strings, got {k!r}")
            if isinstance(v, list):
                v = tuple(v)
            # match the default's type so turns=2 and turns=2.0 are the same experiment
            d = defaults.get(k)
            if isinstance(d, float) and _is_real(v):
                v = float(v)
            elif isinstance(d, int) and not isinstance(d, bool) and _is_real(v):
                v = int(v) if float(v).is_integer() else v
            out[k] = v
        self._set("dataset_params", tuple(sorted(out.items())))

    def _normalise_widths(self) -> None:
        w = self.widths
        if w is None:
            return
        if isinstance(w, str | bytes) or not isinstance(w, Iterable):
            raise ConfigError(f"widths must be a sequence of ints such as (16, 16), got {w!r}")
        w = tuple(w)
        if not all(_is_int(x) or (_is_real(x) and float(x).is_integer()) for x in w):
            raise ConfigError(f"widths must be integers, got {w!r}")
        w = tuple(int(x) for x in w)
        if len(w) == 0:
            raise ConfigError(
                "widths must list at least one hidden width (depth must be >= 1), got ()"
            )
        self._set("depth", len(w))
        if len(set(w)) == 1:
            # uniform widths are the same network as depth/width: one representation
            self._set("width", w[0])
            self._set("widths", None)
        else:
            self._set("width", max(w))
            self._set("widths", w)

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        """Check every field and combination; raise :class:`ConfigError` saying what to change.

        Called by ``__post_init__``, so an existing ``RunConfig`` is always valid.
        """
        self._validate_data()
        self._validate_architecture()
        self._validate_optimizer()
        self._validate_schedule()

    def _validate_data(self) -> None:
        if self.dataset not in datasets.DATASETS:
            raise _unknown("dataset", self.dataset, datasets.DATASETS)
        for name in ("n_train", "n_test"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("data_seed", "seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        try:
            datasets.resolve_params(self.dataset, self.noise, **self.dataset_kwargs)
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def _validate_architecture(self) -> None:
        if self.depth < 1:
            raise ConfigError(
                f"depth must be >= 1 (number of hidden layers; the output layer is always "
                f"added), got {self.depth}"
            )
        if self.width < 1 or min(self.hidden_widths) < 1:
            got = self.width if self.widths is None else self.widths
            raise ConfigError(f"width must be >= 1, got {got}")
        if self.activation not in settings.ACTIVATIONS:
            raise _unknown("activation", self.activation, settings.ACTIVATIONS)
        if self.alpha is not None:
            if self.activation not in settings.DEFAULT_ALPHA:
                raise ConfigError(
                    f"alpha has no effect with activation={self.activation!r}; it applies to "
                    f"{', '.join(settings.DEFAULT_ALPHA)} only. Set alpha=None"
                )
            if not math.isfinite(self.alpha):
                raise ConfigError(f"alpha must be finite, got {self.alpha}")
        if self.residual_block < 1:
            raise ConfigError(f"residual_block must be >= 1, got {self.residual_block}")
        if self.residual and self.widths is not None:
            raise ConfigError(
                f"residual connections need equal hidden widths, got {self.widths}; use "
                f"width={self.widths[0]} or residual=False"
            )
        try:
            check_residual_init(self.residual_init, self.rblock)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if self.init not in INIT_SCHEMES:
            raise _unknown("init", self.init, INIT_SCHEMES)
        try:
            check_init_args(self.init, self.gain, self.sigma_w2, self.sigma_b2)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if self.dtype not in DTYPES:
            raise _unknown("dtype", self.dtype, DTYPES)

    def _validate_optimizer(self) -> None:
        if self.loss not in settings.LOSSES:
            raise _unknown("loss", self.loss, settings.LOSSES)
        task = self.task
        if self.loss == "mse" and task == "classification":
            raise ConfigError(
                f"loss='mse' needs a regression dataset; {self.dataset!r} is a classification "
                "task, use loss='bce'"
            )
        if self.loss == "bce" and task == "regression":
            raise ConfigError(
                f"loss='bce' needs a classification dataset; {self.dataset!r} is a regression "
                "task, use loss='mse'"
            )
        if self.optimizer not in settings.OPTIMIZERS:
            raise _unknown("optimizer", self.optimizer, settings.OPTIMIZERS)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a finite number > 0, got {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"eps must be a finite number > 0, got {self.eps}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(
                f"weight_decay must be a finite number >= 0 (0 = off), got {self.weight_decay}"
            )
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise ConfigError(
                f"clip (max total gradient norm) must be > 0, or None to disable, got {self.clip}"
            )

    def _validate_schedule(self) -> None:
        if self.schedule not in settings.SCHEDULES:
            raise _unknown("schedule", self.schedule, settings.SCHEDULES)
        if self.batch_size is not None and not 1 <= self.batch_size <= self.n_train:
            raise ConfigError(
                f"batch_size must be in [1, n_train={self.n_train}], or None for full batch, "
                f"got {self.batch_size}"
            )
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        for name in ("log_every", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1 (steps), got {getattr(self, name)}")

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
        return float(settings.DEFAULT_ALPHA.get(self.activation, 0.0))

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
        return (self.n_steps - 1) // self.log_every + 1

    @property
    def n_eval_points(self) -> int:
        """Evaluations: after ``s`` updates for ``s`` in {0, e, 2e, ...} and ``s = n_steps``."""
        return self.n_steps // self.eval_every + 1 + (self.n_steps % self.eval_every != 0)

    def memory_bytes(self) -> int:
        """Bytes this run's telemetry and parameter state need (see :meth:`Grid.memory_bytes`)."""
        lay = self.layout()
        # Telemetry is float64 whatever the run's dtype; its size is the kernels' own.
        telemetry = telemetry_size(lay.n_layers, self.n_steps, self.log_every, self.eval_every)
        state = lay.n_params * (3 + _OPT_STATE[self.optimizer])
        return telemetry * 8 + state * self.np_dtype.itemsize

    def flops(self, include_eval: bool = True) -> int:
        """Estimated FLOPs of the run (see :meth:`Grid.estimated_flops`)."""
        lay = self.layout()
        # every epoch touches each training sample once, whatever the batch size
        total = lay.flops_per_sample * self.n_train * self.epochs
        if include_eval:
            s = int(np.sum(lay.table[:, FAN_IN] * lay.table[:, FAN_OUT]))
            total += self.n_eval_points * 2 * s * (self.n_train + self.n_test)
        return int(total)

    # ------------------------------------------------------------------ identity and keys

    def canonical_dict(self) -> dict[str, Any]:
        """The experiment this config describes, with defaults resolved.

        Defaults are filled in (``noise``, dataset parameters, ``alpha``, ``gain``,
        ``sigma_b2``), widths expanded to a list, and fields without effect dropped
        (``momentum`` unless optimizer='momentum', ``beta1/beta2/eps`` unless 'adam',
        ``alpha`` for activations without it, ``residual_block`` without residual,
        ``gain`` or ``sigma_*`` for the schemes that ignore them).
        """
        noise, params = datasets.resolve_params(self.dataset, self.noise, **self.dataset_kwargs)
        d: dict[str, Any] = {
            "dataset": self.dataset,
            "dataset_params": params,
            "noise": noise,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "data_seed": self.data_seed,
            "widths": list(self.hidden_widths),
            "activation": self.activation,
            "residual": self.residual,
            "loss": self.loss,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "clip": self.clip,
            "schedule": self.schedule,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "log_every": self.log_every,
            "eval_every": self.eval_every,
            "dtype": self.dtype,
            "seed": self.seed,
        }
        d.update(self._init_fields())
        if self.activation in settings.DEFAULT_ALPHA:
            d["alpha"] = self.effective_alpha
        if self.residual:
            d["residual_block"] = self.residual_block
            if self.residual_init != "none":  # absent when 'none': older run ids stay valid
                d["residual_init"] = self.residual_init
        if self.optimizer == "momentum":
            d["momentum"] = self.momentum
        if self.optimizer == "adam":
            d.update(beta1=self.beta1, beta2=self.beta2, eps=self.eps)
        return d

    def _init_fields(self) -> dict[str, Any]:
        if self.init == "meanfield":
            sb2 = 0.0 if self.sigma_b2 is None else self.sigma_b2
            return {"init": self.init, "sigma_w2": self.sigma_w2, "sigma_b2": sb2}
        return {"init": self.init, "gain": 1.0 if self.gain is None else self.gain}

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
        payload = {"n_in": self.n_in, "widths": list(self.hidden_widths), "seed": self.seed}
        payload.update(self._init_fields())
        return _key("fastdepth.init", payload)

    def data_key(self) -> int:
        """Seed of the minibatch-order stream, in ``[0, 2**63)``.

        Hashes ``seed``, ``batch_size`` and the dataset fields (name, resolved noise and
        parameters, ``n_train``, ``n_test``, ``data_seed``).
        """
        c = self.canonical_dict()
        keys = ("dataset", "dataset_params", "noise", "n_train", "n_test", "data_seed")
        payload = {k: c[k] for k in keys}
        payload.update(seed=self.seed, batch_size=self.batch_size)
        return _key("fastdepth.data", payload)

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
        names = [f.name for f in dataclasses.fields(cls)]
        for k in d:
            if k not in names:
                raise _unknown("RunConfig field", k, names)
        return cls(**d)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` applied (and validated).

        Setting ``depth`` or ``width`` without ``widths`` clears explicit ``widths``, so
        ``cfg.replace(depth=8)`` always gives 8 hidden layers.
        """
        names = [f.name for f in dataclasses.fields(self)]
        for k in changes:
            if k not in names:
                raise _unknown("RunConfig field", k, names)
        if ("depth" in changes or "width" in changes) and "widths" not in changes:
            changes["widths"] = None
        return dataclasses.replace(self, **changes)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}
_FIELD_NAMES = tuple(_DEFAULTS)


# ======================================================================================
# Grid


def _is_seq(v: Any) -> bool:
    return isinstance(v, list | tuple | range | np.ndarray)


def _plain(v: Any) -> Any:
    """NumPy scalars / tuples / ranges -> plain Python values and lists (TOML/JSON friendly)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if _is_seq(v):
        return [_plain(x) for x in v]
    return v


def _axis_values(name: str, value: Any) -> list[Any]:
    """A grid entry as a list of values: scalars become one-element lists.

    ``widths`` is a sequence itself, so only a sequence of sequences (or None) is an axis;
    ``dataset_params`` is a dict, so a list of dicts is an axis.
    """
    if name == "widths":
        if _is_seq(value) and len(value) > 0 and all(v is None or _is_seq(v) for v in value):
            return [None if v is None else _plain(v) for v in value]
        return [None if value is None else _plain(value)]
    if name == "dataset_params":
        if _is_seq(value):
            return [_plain(v) for v in value]
        return [_plain(value)]
    if _is_seq(value):
        return [_plain(v) for v in value]
    return [_plain(value)]


def _fmt(assign: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in assign.items())


def check_memory(
    runs: Sequence[RunConfig], limit_bytes: int | None = None, what: str | None = None
) -> int:
    """Raise :class:`ConfigError` if ``runs`` need more telemetry memory than the limit.

    Parameters
    ----------
    runs : sequence of RunConfig
    limit_bytes : int, optional
        Default: half of the available RAM (``os.sysconf``); if that cannot be read,
        no check is made.
    what : str, optional
        How to name the runs in the message.

    Returns
    -------
    int
        Bytes needed.
    """
    need = sum(r.memory_bytes() for r in runs)
    source = "limit_bytes"
    if limit_bytes is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return need
        limit_bytes, source = avail // 2, "half of the available RAM"
    if need > limit_bytes:
        gib = 2.0**30
        logs = sorted({r.log_every for r in runs})
        evals = sorted({r.eval_every for r in runs})
        seeds = len({r.seed for r in runs})
        what = what or f"these {len(runs)} runs"
        raise ConfigError(
            f"{what} needs {need / gib:.3g} GiB of telemetry and "
            f"parameter memory but the limit is {limit_bytes / gib:.3g} GiB ({source}); "
            f"raise log_every (now {_few(logs)}) or eval_every (now {_few(evals)}), use "
            f"fewer seeds (now {seeds}), or split the grid into smaller grids"
        )
    return need


class Grid:
    """Many :class:`RunConfig` from lists of field values on top of a base config.

    Parameters
    ----------
    axes : mapping of field name -> value or list of values
        A list / tuple / range / array is an axis; a scalar sets the field for every run.
        For ``widths`` an axis is a list of sequences (``[(16, 16), (32, 8)]``); for
        ``dataset_params`` a list of dicts.
    base : RunConfig, dict or None
        Values of fields no axis sets. A dict need not be valid on its own (e.g.
        ``{'dataset': 'regression1d'}`` with a ``loss`` axis of ``['mse']``).
    zip : sequence of tuples of field names
        Groups of axes advanced together instead of crossed; the lists in a group must
        have equal length. ``zip=[('depth', 'lr')]`` pairs ``depth[i]`` with ``lr[i]``.

    Notes
    -----
    Order: the axes in the order given (a zipped group at the position of its first
    member), the last axis varying fastest, as ``itertools.product``. Every run is built
    and validated here; an invalid one raises :class:`ConfigError` naming its grid values,
    and so do two runs with the same :attr:`RunConfig.run_id` (a field that has no effect
    in that combination, such as ``momentum`` with ``optimizer='sgd'``).
    """

    def __init__(
        self,
        axes: Mapping[str, Any],
        base: RunConfig | Mapping[str, Any] | None = None,
        zip: Sequence[Sequence[str]] = (),  # shadows the builtin: the documented keyword
    ) -> None:
        self._values: dict[str, list[Any]] = {}
        for name, value in axes.items():
            if name not in _DEFAULTS:
                raise _unknown("grid field", name, _FIELD_NAMES)
            vals = _axis_values(name, value)
            if not vals:
                raise ConfigError(f"grid axis {name!r} is empty; give at least one value")
            self._values[name] = vals
        self._base = self._base_overrides(base)
        self._zip = self._check_zip(zip)
        self._check_depth_vs_widths()
        self._runs = self._expand()

    # ------------------------------------------------------------------ building

    @staticmethod
    def _base_overrides(base: RunConfig | Mapping[str, Any] | None) -> dict[str, Any]:
        """Base as the dict of fields that differ from the RunConfig defaults."""
        if base is None:
            return {}
        d = base.to_dict() if isinstance(base, RunConfig) else dict(base)
        out = {}
        for k, v in d.items():
            if k not in _DEFAULTS:
                raise _unknown("base field", k, _FIELD_NAMES)
            v = _plain(v)
            default = _DEFAULTS[k]
            if v == default or (k == "dataset_params" and not v):
                continue
            out[k] = v
        return out

    def _check_zip(self, groups: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
        seen: set[str] = set()
        out = []
        for group in groups:
            group = (group,) if isinstance(group, str) else tuple(group)
            for name in group:
                if name not in self._values:
                    raise ConfigError(
                        f"zip group {group} names {name!r}, which is not a grid axis; axes: "
                        f"{', '.join(self._values)}"
                    )
                if name in seen:
                    raise ConfigError(f"field {name!r} appears in more than one zip group")
                seen.add(name)
            lengths = {name: len(self._values[name]) for name in group}
            if len(set(lengths.values())) > 1:
                raise ConfigError(
                    f"zipped axes need lists of equal length, got {lengths}; give each the "
                    "same number of values or cross them instead"
                )
            out.append(group)
        return out

    def _check_depth_vs_widths(self) -> None:
        sets_shape = [k for k in ("depth", "width") if k in self._values]
        has_widths = self._base.get("widths") is not None or any(
            v is not None for v in self._values.get("widths", [None])
        )
        if sets_shape and has_widths:
            raise ConfigError(
                f"the grid sets {' and '.join(sets_shape)} but also sets widths, which "
                "overrides depth and width; vary widths alone, or drop widths"
            )

    def _dimensions(self) -> list[list[dict[str, Any]]]:
        """One list of field assignments per independent axis (a zip group is one axis)."""
        group_of = {name: g for g in self._zip for name in g}
        dims, done = [], set()
        for name in self._values:
            g = group_of.get(name, (name,))
            if g in done:
                continue
            done.add(g)
            n = len(self._values[g[0]])
            dims.append([{k: self._values[k][i] for k in g} for i in range(n)])
        return dims

    def _expand(self) -> list[RunConfig]:
        varying = set(self.axes)
        runs: list[RunConfig] = []
        first_error, n_bad = None, 0
        by_id: dict[str, int] = {}
        for i, combo in enumerate(itertools.product(*self._dimensions())):
            assign: dict[str, Any] = {}
            for part in combo:
                assign.update(part)
            try:
                cfg = RunConfig.from_dict({**self._base, **assign})
            except ConfigError as e:
                n_bad += 1
                if first_error is None:
                    shown = {k: v for k, v in assign.items() if k in varying} or assign
                    first_error = f"grid run #{i} ({_fmt(shown)}) is invalid: {e}"
                continue
            if cfg.run_id in by_id and first_error is None:
                j = by_id[cfg.run_id]
                a = {k: v for k, v in runs[j].to_dict().items() if k in varying}
                b = {k: v for k, v in cfg.to_dict().items() if k in varying}
                raise ConfigError(
                    f"grid runs #{j} ({_fmt(a)}) and #{i} ({_fmt(b)}) are the same experiment "
                    f"(run_id {cfg.run_id}): a grid value has no effect in this combination "
                    "(e.g. momentum with optimizer='sgd', alpha with activation='relu', "
                    "residual_block without residual); use zip= or separate grids"
                )
            by_id[cfg.run_id] = i
            runs.append(cfg)
        if first_error is not None:
            total = len(runs) + n_bad
            more = f" ({n_bad} of {total} runs are invalid)" if n_bad > 1 else ""
            raise ConfigError(first_error + more)
        return runs

    # ------------------------------------------------------------------ access

    @property
    def axes(self) -> tuple[str, ...]:
        """Fields with more than one value, in grid order."""
        return tuple(k for k, v in self._values.items() if len(v) > 1)

    @property
    def values(self) -> dict[str, list[Any]]:
        """Every field the grid sets -> its list of values (copies)."""
        return {k: list(v) for k, v in self._values.items()}

    @property
    def base(self) -> dict[str, Any]:
        """Base fields that differ from the RunConfig defaults."""
        return dict(self._base)

    @property
    def zip(self) -> list[tuple[str, ...]]:
        """Zipped groups of axes."""
        return list(self._zip)

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[RunConfig]:
        return iter(self._runs)

    def __getitem__(self, i: int) -> RunConfig:
        return self._runs[i]

    def runs(self) -> list[RunConfig]:
        """All runs, in grid order."""
        return list(self._runs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        shape = " x ".join(f"{k}[{len(self._values[k])}]" for k in self.axes) or "single run"
        return f"Grid({len(self)} runs: {shape})"

    # ------------------------------------------------------------------ cost estimates

    def memory_bytes(self) -> int:
        """Bytes of telemetry and parameter state for all runs.

        Per run, in floats of the run's dtype::

            n_log_points  * (2 + n_layers)        # loss, total grad norm, per-layer grad norm
          + n_eval_points * (3 + 2 * n_layers)    # train/test acc, test loss; dead, act norm
          + n_params * (3 + k)                    # initial, current, gradient; k optimizer
                                                  # state vectors (sgd 0, momentum 1, adam 2)

        with ``n_layers = depth + 1``; :attr:`RunConfig.n_log_points` and
        :attr:`RunConfig.n_eval_points` define the counts. Per-thread forward/backward
        workspace and the datasets are not included (bounded by the chunk size).
        """
        return sum(r.memory_bytes() for r in self._runs)

    def estimated_flops(self, include_eval: bool = True) -> int:
        """Estimated FLOPs of the whole grid.

        Training: ``layout.flops_per_sample * n_train * epochs`` per run (DESIGN.md's W1
        convention ``6 S - 4 w_1`` per sample per step; every epoch touches each training
        sample once). Evaluation (if ``include_eval``): a forward pass, ``2 S`` per sample,
        over ``n_train + n_test`` samples at each of the ``n_eval_points``.
        ``S = sum(fan_in * fan_out)``; activations and biases are not counted.
        """
        return sum(r.flops(include_eval) for r in self._runs)

    def estimate_seconds(self, gflops: float = 40.0) -> float:
        """Wall time at a sustained ``gflops`` GFLOP/s (a rough planning number)."""
        if not gflops > 0:
            raise ConfigError(f"gflops must be > 0, got {gflops}")
        return self.estimated_flops() / (gflops * 1e9)

    def check_memory(self, limit_bytes: int | None = None) -> int:
        """Raise :class:`ConfigError` if :meth:`memory_bytes` exceeds the limit.

        Parameters
        ----------
        limit_bytes : int, optional
            Default: half of the available RAM (``os.sysconf``); if that cannot be read,
            no check is made.

        Returns
        -------
        int
            Bytes needed.
        """
        return check_memory(self._runs, limit_bytes, what=f"this grid of {len(self)} runs")

    # ------------------------------------------------------------------ (de)serialise

    def to_dict(self) -> dict[str, Any]:
        """``{'axes': {field: [values]}, 'base': {field: value}, 'zip': [[fields]]}``."""
        return {
            "axes": self.values,
            "base": dict(self._base),
            "zip": [list(g) for g in self._zip],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Grid:
        """Inverse of :meth:`to_dict`."""
        unknown = [k for k in d if k not in ("axes", "base", "zip")]
        if unknown:
            raise _unknown("Grid key", unknown[0], ("axes", "base", "zip"))
        return cls(d.get("axes", {}), base=d.get("base"), zip=d.get("zip", ()))

    def to_toml(self, path: str | os.PathLike) -> str:
        """Write the grid as TOML (``zip`` array, ``[base]`` and ``[axes]`` tables).

        TOML has no null: ``None`` is written as the string ``"none"`` inside axis lists
        and omitted from ``[base]`` (every nullable field defaults to None).

        Returns
        -------
        str
            The text written.
        """
        base = {k: v for k, v in self._base.items() if v is not None}
        doc = {
            "zip": [list(g) for g in self._zip],
            "base": base,
            "axes": self.values,
        }
        text = _toml_dumps(doc)
        Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> Grid:
        """Read a grid written by :meth:`to_toml` (or by hand in the same layout)."""
        with open(path, "rb") as f:
            doc = tomllib.load(f)
        axes = {
            k: [None if (x == "none" and k in _NULLABLE) else x for x in v]
            if isinstance(v, list)
            else v
            for k, v in doc.get("axes", {}).items()
        }
        return cls.from_dict({**doc, "axes": axes})


def _few(values: list[Any]) -> str:
    return str(values[0]) if len(values) == 1 else "/".join(map(str, values[:5]))


# ======================================================================================
# a tiny TOML writer: scalars, arrays, inline tables inside arrays, nested tables

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _toml_str(k)


def _toml_str(s: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes; DEL must be escaped in TOML
    return json.dumps(s).replace("\x7f", "\\u007f")


def _toml_value(v: Any) -> str:
    if v is None:
        return '"none"'
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if _is_int(v):
        return str(int(v))
    if _is_real(v):
        x = float(v)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if _is_seq(v):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} to TOML")


def _toml_dumps(doc: Mapping[str, Any], prefix: str = "") -> str:
    """Scalars and arrays of a table first, then its sub-tables as ``[a.b]`` sections."""
    lines = []
    tables = []
    for k, v in doc.items():
        if isinstance(v, Mapping):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
        out += f"\n[{name}]\n" + _toml_dumps(v, name)
    return out


# ======================================================================================
# CLI helpers


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
