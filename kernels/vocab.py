"""The vocabularies of the compiled core: one table per kind, name -> integer code + metadata.

Every activation, loss, optimizer, schedule and run status that the kernels know is
declared here once. Everything else is derived from these tables: the integer
constants the compiled dispatchers branch on, ``settings.ACTIVATIONS`` & co., the
validation of :class:`fastdepth.RunConfig`, the store schema, the sweep's ``--help``
and the tests' parameter lists. Adding an entry is the first of a short list of steps
(``docs/architecture.md``); a code with no branch in a compiled dispatcher makes that
dispatcher return an error flag instead of computing something else, and the tests
check every registered code against its own branch.

A :class:`Vocabulary` is a read-only mapping ``name -> code`` (so ``name in ACTIVATIONS``,
``ACTIVATIONS[name]`` and ``sorted(ACTIVATIONS)`` work as on a dict) with the entries'
metadata at :meth:`Vocabulary.entry`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar


def did_you_mean(
    value: object, valid: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """The valid name closest to a misspelt ``value``, or ``None``.

    Tries ``value`` as given, then lower-cased, then ``aliases`` (misspellings no string
    distance can guess, e.g. ``learning_rate -> lr``).
    """
    valid = list(valid)
    text = str(value)
    close = difflib.get_close_matches(text, valid, n=1)
    close = close or difflib.get_close_matches(text.lower(), valid, n=1)
    if close:
        return close[0]
    alias = (aliases or {}).get(text)
    return alias if alias in valid else None


def hint(value: object, valid: Iterable[str], aliases: Mapping[str, str] | None = None) -> str:
    """``"; did you mean 'relu'?"`` for a misspelt ``value``, or ``""`` when nothing is close."""
    close = did_you_mean(value, valid, aliases)
    return f"; did you mean {close!r}?" if close else ""


def unknown_message(
    kind: str, value: object, valid: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str:
    """``unknown activation 'rleu'; did you mean 'relu'? valid: identity, relu, ...``."""
    valid = list(valid)
    return f"unknown {kind} {value!r}{hint(value, valid, aliases)} valid: {', '.join(valid)}"


@dataclass(frozen=True)
class Entry:
    """Common fields of every vocabulary entry."""

    name: str
    code: int
    doc: str


@dataclass(frozen=True)
class Activation(Entry):
    """A hidden-layer activation.

    Attributes
    ----------
    alpha : float or None
        Default of the activation's parameter (leaky_relu slope, elu scale); ``None``
        when it takes none (then ``RunConfig(alpha=...)`` is an error).
    piecewise_linear : bool
        Linear between finitely many breakpoints (linear-region counting applies).
    init : str
        The init scheme it is usually paired with (``he`` for the ReLU family,
        ``xavier`` for saturating ones).
    kinks : tuple of float
        Pre-activation values where the function or its derivative is not smooth (at the
        default ``alpha``): the breakpoints of a piecewise-linear activation (linear
        regions), the split points of mean-field quadrature.
    units : str
        How a hidden unit of this activation stops learning, as the diagnostics measure
        it: a name in :data:`UNIT_STATES` (``dead`` for the ReLU family, ``saturated``
        for tanh and sigmoid, ``none`` where neither applies).
    units_doc : str
        What that state means for this activation (leaky_relu's "dead" differs from
        ReLU's).
    out_range : (float, float) or None
        The open interval the activation maps onto, for ``units == "saturated"``: the
        saturation bound is measured from its centre (:data:`SATURATION`).
    cost : float
        Time per hidden unit and sample-step of training that FLOPs do not count (the
        activation and its derivative, forward and backward), in FLOP-equivalents of the
        compiled trainer: the ETA's cost model (:func:`fastdepth.config.cost.train_cost`),
        fitted on measured chunk times by ``python -m bench.eta_fit``.
    """

    alpha: float | None = None
    piecewise_linear: bool = False
    init: str = "he"
    kinks: tuple[float, ...] = ()
    units: str = "none"
    units_doc: str = ""
    out_range: tuple[float, float] | None = None
    cost: float = 0.0


@dataclass(frozen=True)
class UnitState(Entry):
    """A state of a hidden unit that the diagnostics count (see :data:`UNIT_STATES`)."""


@dataclass(frozen=True)
class Loss(Entry):
    """An output loss. ``task`` is the dataset task it needs; accuracy only for classification."""

    task: str = "classification"

    @property
    def has_accuracy(self) -> bool:
        return self.task == "classification"


@dataclass(frozen=True)
class Optimizer(Entry):
    """An optimizer.

    Attributes
    ----------
    state : int
        Per-parameter state vectors it keeps (memory: ``state * n_params`` values).
    hyper : tuple of str
        The :class:`fastdepth.RunConfig` fields it reads besides ``lr``,
        ``weight_decay`` and ``clip`` (which every optimizer reads). A field that no
        chosen optimizer reads is left out of a run's identity.
    """

    state: int = 0
    hyper: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule(Entry):
    """A learning-rate schedule over the run's steps."""


@dataclass(frozen=True)
class LrRule(Entry):
    """How a network's learning rate follows from ``lr``."""


@dataclass(frozen=True)
class Status(Entry):
    """The outcome the batched trainer writes for a network.

    ``internal`` statuses mean a bug (the engine raises on them), not a result.
    """

    internal: bool = False


E = TypeVar("E", bound=Entry)


class Vocabulary(Mapping[str, int], Generic[E]):
    """A read-only ``name -> code`` mapping with each entry's metadata.

    Codes are ``0 .. len - 1`` in declaration order.
    """

    def __init__(self, kind: str, entries: Iterable[E]) -> None:
        self.kind = kind
        self._entries: tuple[E, ...] = tuple(entries)
        names = [e.name for e in self._entries]
        if len(set(names)) != len(names):
            raise ValueError(f"{kind}: duplicate names in {names}")
        if [e.code for e in self._entries] != list(range(len(self._entries))):
            raise ValueError(f"{kind}: codes must be 0..n-1 in declaration order")
        self._by_name = {e.name: e for e in self._entries}

    def __getitem__(self, name: str) -> int:
        return self._by_name[name].code

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Vocabulary({self.kind!r}, {list(self._by_name)})"

    @property
    def names(self) -> tuple[str, ...]:
        """Names in code order."""
        return tuple(self._by_name)

    @property
    def entries(self) -> tuple[E, ...]:
        """Entries in code order."""
        return self._entries

    def entry(self, name: str) -> E:
        """The entry called ``name``; ``ValueError`` with a suggestion if there is none."""
        if name not in self._by_name:
            raise ValueError(self.unknown(name))
        return self._by_name[name]

    def name_of(self, code: int) -> str:
        """The name of ``code``; ``ValueError`` for a code outside the table."""
        if not 0 <= int(code) < len(self._entries):
            raise ValueError(f"no {self.kind} has code {code} (codes 0..{len(self) - 1})")
        return self._entries[int(code)].name

    def unknown(self, value: object, aliases: Mapping[str, str] | None = None) -> str:
        """The message for a name that is not in the table."""
        return unknown_message(self.kind, value, self.names, aliases)

    def where(self, **attrs: object) -> tuple[str, ...]:
        """Names of the entries whose attributes equal ``attrs`` (``piecewise_linear=True``)."""
        return tuple(
            e.name for e in self._entries if all(getattr(e, k) == v for k, v in attrs.items())
        )


#: A unit is *saturated* when its activation stays within ``1 - SATURATION`` of the ends
#: of the activation's range, relative to the half-width, on every sample:
#: ``|h - c| > SATURATION * r`` for the range ``(c - r, c + r)``. For tanh that is
#: ``|h| > 0.99`` (``|z| > 2.65``), for sigmoid ``|2 h - 1| > 0.99`` (h < 0.005 or
#: h > 0.995, ``|z| > 5.29``). Both are the same statement about the derivative: it is
#: below ``1 - SATURATION**2`` = 1.99% of its maximum on every sample (tanh' = 1 - h^2,
#: sigmoid' = (1 - (2h - 1)^2) / 4), so such a unit passes back less than 2% of the
#: gradient a unit at its centre would, on every input.
SATURATION = 0.99

UNIT_STATES: Vocabulary[UnitState] = Vocabulary(
    "unit state",
    [
        UnitState("dead", 0, "pre-activation z <= 0 on every sample (a NaN z is not <= 0)"),
        UnitState("saturated", 1, f"|h - c| > {SATURATION} r on every sample, for the "
                  "activation's range (c - r, c + r): |h| > 0.99 for tanh, |2h - 1| > 0.99 for "
                  "sigmoid (a NaN h is not saturated)"),
        UnitState("none", 2, "not measured: the activation has neither a zero-gradient side "
                  "nor flat ends"),
    ],
)  # fmt: skip

# ``cost``: FLOP-equivalents per hidden unit and sample-step, fitted by bench/eta_fit.py
# (see Activation.cost; refit 2026-12-03 on the 2-core AMD EPYC after the vectorised erf,
# each chunk within 0.84-1.57x of the model, medians 0.99-1.03): relu 62 is the memory
# traffic every unit costs, tanh 151 adds the vectorised tanh forward (the backward takes
# the derivative from h), gelu 302 the vectorised erf and exp (1960 with libm's erf).
ACTIVATIONS: Vocabulary[Activation] = Vocabulary(
    "activation",
    [
        Activation("identity", 0, "h = z (a linear network)", piecewise_linear=True,
                   init="xavier", units_doc="a linear unit never stops passing gradient",
                   cost=65.0),
        Activation("relu", 1, "max(z, 0); derivative the mask z > 0 (0 at 0, as PyTorch)",
                   piecewise_linear=True, kinks=(0.0,), units="dead",
                   units_doc="z <= 0 on every sample: the unit outputs 0 and passes no "
                   "gradient back, so its incoming weights never change again", cost=62.0),
        Activation("leaky_relu", 2, "z for z > 0, alpha z otherwise", alpha=0.01,
                   piecewise_linear=True, kinks=(0.0,), units="dead",
                   units_doc="z <= 0 on every sample: the unit is linear with slope alpha "
                   "on every input and passes back alpha times the gradient (not zero: "
                   "unlike a dead ReLU it can still recover)", cost=74.0),
        Activation("tanh", 3, "tanh(z)", init="xavier", units="saturated", out_range=(-1.0, 1.0),
                   units_doc="|h| > 0.99 on every sample: tanh' < 0.0199 everywhere",
                   cost=151.0),
        Activation("sigmoid", 4, "1 / (1 + exp(-z))", init="xavier", units="saturated",
                   out_range=(0.0, 1.0),
                   units_doc="h < 0.005 or h > 0.995 on every sample: sigmoid' < 0.005 "
                   "(1.99% of its maximum 1/4) everywhere", cost=146.0),
        Activation("elu", 5, "z for z > 0, alpha (exp(z) - 1) otherwise", alpha=1.0,
                   kinks=(0.0,),
                   units_doc="z <= 0 keeps a gradient alpha exp(z) > 0; no flat region",
                   cost=207.0),
        Activation("gelu", 6, "z Phi(z), the exact erf form (PyTorch's default)",
                   units_doc="smooth, with a nonzero gradient almost everywhere", cost=302.0),
        Activation("silu", 7, "z sigmoid(z) (swish)",
                   units_doc="smooth, with a nonzero gradient almost everywhere", cost=245.0),
    ],
)  # fmt: skip

LOSSES: Vocabulary[Loss] = Vocabulary(
    "loss",
    [
        Loss("bce", 0, "binary cross-entropy on a logit (stable form)", task="classification"),
        Loss("mse", 1, "mean squared error", task="regression"),
    ],
)

OPTIMIZERS: Vocabulary[Optimizer] = Vocabulary(
    "optimizer",
    [
        Optimizer("sgd", 0, "plain gradient descent, p -= lr (g + wd p)"),
        Optimizer("momentum", 1, "heavy-ball SGD as torch.optim.SGD(momentum=...)", state=1,
                  hyper=("momentum",)),
        Optimizer("adam", 2, "Adam with bias correction, as torch.optim.Adam", state=2,
                  hyper=("beta1", "beta2", "eps")),
    ],
)  # fmt: skip

SCHEDULES: Vocabulary[Schedule] = Vocabulary(
    "schedule",
    [
        Schedule("constant", 0, "lr at every step"),
        Schedule("cosine", 1, "lr (1 + cos(pi t / n_steps)) / 2"),
    ],
)

LR_RULES: Vocabulary[LrRule] = Vocabulary(
    "lr rule",
    [
        LrRule("fixed", 0, "the rate is lr, the same for every network"),
        LrRule("sharpness", 1, "the rate is lr / lambda_0, lambda_0 the top Hessian eigenvalue "
               "of the network's own initial weights (lr = 1 puts it at half the classical "
               "stability limit 2 / lambda_0 of gradient descent)"),
    ],
)  # fmt: skip

STATUSES: Vocabulary[Status] = Vocabulary(
    "status",
    [
        Status("ok", 0, "trained to the last step"),
        Status("diverged", 1, "a non-finite loss or gradient norm stopped training"),
        Status("bad_code", 2, "a code the compiled core has no branch for (a bug)",
               internal=True),
        Status("no_curvature", 3, "lr_rule 'sharpness': the initial top Hessian eigenvalue "
               "was <= 0 or not finite, so no rate lr / lambda_0 exists; not trained"),
    ],
)  # fmt: skip

VOCABULARIES: dict[str, Vocabulary] = {
    v.kind: v for v in (ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEDULES, STATUSES, UNIT_STATES, LR_RULES)
}


def units_of(activation: str) -> str:
    """The unit state measured for ``activation``: ``'dead'``, ``'saturated'`` or ``'none'``."""
    return ACTIVATIONS.entry(activation).units


def _check_units() -> None:
    for e in ACTIVATIONS.entries:
        if e.units not in UNIT_STATES:
            raise ValueError(f"activation {e.name}: units {e.units!r} is not a unit state")
        if (e.units == "saturated") != (e.out_range is not None):
            raise ValueError(f"activation {e.name}: a saturating activation needs out_range")


_check_units()
