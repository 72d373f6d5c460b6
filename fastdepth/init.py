"""Weight initialisers that draw a network's packed parameter vector in NumPy.

Initial weights are drawn here, outside compiled code, so the NumPy reference and the
kernels start from identical numbers. Layers are drawn in order, input layer
first and output layer last (the output layer uses the same scheme); within a layer ``W``
(shape ``(fan_in, fan_out)``, row-major) is drawn before ``b``, and ``b`` consumes random
numbers only for schemes with random biases (``meanfield``). The result therefore depends
only on ``(layout, scheme, gain, sigma_w2, sigma_b2)`` and the generator's state.

Standard deviation of each weight (``gain`` defaults to 1 for every scheme):

================================ ===============================================  ======
scheme (aliases)                 weights                                          biases
================================ ===============================================  ======
he (kaiming)                     N(0, s^2), s = gain sqrt(2 / fan_in)             0
he_uniform (kaiming_uniform)     U(-a, a), a = gain sqrt(6 / fan_in)              0
xavier (glorot)                  N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out)) 0
xavier_uniform (glorot_uniform)  U(-a, a), a = gain sqrt(6 / (fan_in + fan_out))  0
lecun                            N(0, s^2), s = gain sqrt(1 / fan_in)             0
orthogonal                       gain Q, Q from the QR of a gaussian matrix       0
small                            N(0, s^2), s = 0.01 gain (kills deep ReLU nets)  0
playground                       U(-0.5 gain, 0.5 gain) (TensorFlow Playground)   0.1
meanfield                        N(0, sigma_w2 / fan_in)                          N(0, sigma_b2)
================================ ===============================================  ======

Uniform bounds are chosen so the variance equals the normal variant's (a^2 / 3 = s^2).

Residual networks (``residual = r > 0``) can rescale the last layer of each of their
``B`` blocks (the layer whose pre-activation receives the skip), after every layer has
been drawn, so the other layers' weights are exactly those of ``residual_init='none'``:

======== ====================================================================
none     every layer as drawn. Under He init with ReLU the residual stream's
         second moment grows about 2.4x per block (``relu(h + f(h))``: the branch
         adds about twice the input's second moment).
zero     the block's last ``W`` and ``b`` are zero: each block starts as the
         identity on its (non-negative, for ReLU) input (SkipInit / Fixup's
         zero init, Zhang et al. 2019; De & Smith 2020).
scaled   the block's last ``W`` and ``b`` are multiplied by ``1 / sqrt(B)``,
         so each block adds O(1/B) and the stream's total growth stays O(1) in
         B (about 4.6x over 10 blocks, against 2.4^10 ~ 6000x for ``none``), the
         1/sqrt(depth) branch scaling of Hanin & Rolnick (2018).
======== ====================================================================
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fastdepth.kernels.layout import FAN_IN, FAN_OUT, Layout, block_ends

from .kernels.vocab import hint

__all__ = [
    "INIT_SCHEMES",
    "RESIDUAL_INITS",
    "InitScheme",
    "check_residual_init",
    "init_params",
    "weight_std",
]

#: How the last layer of each residual block is initialised (see the module docstring).
RESIDUAL_INITS: dict[str, str] = {
    "none": "as drawn by the scheme",
    "zero": "last layer of each block zero: every block starts as the identity",
    "scaled": "last layer of each block times 1/sqrt(number of blocks)",
}


@dataclass(frozen=True)
class InitScheme:
    """Registry entry of one initialisation scheme.

    Attributes
    ----------
    name : str
        Canonical name (aliases map to the same entry).
    distribution : {'normal', 'uniform', 'orthogonal'}
        How weights are drawn.
    std : callable
        ``std(fan_in, fan_out, gain, sigma_w2) -> float``: standard deviation of every
        weight entry (for ``orthogonal``, the root mean square entry).
    bias : {'zero', 'constant', 'normal'}
        Bias rule: zeros, the constant ``bias_value``, or N(0, sigma_b2).
    bias_value : float
        Used when ``bias == 'constant'``.
    description : str
    """

    name: str
    distribution: str
    std: Callable[[int, int, float, float | None], float]
    bias: str = "zero"
    bias_value: float = 0.0
    description: str = ""


_HE = InitScheme(
    "he",
    "normal",
    lambda fi, fo, g, s: g * math.sqrt(2.0 / fi),
    description="Kaiming/He normal: keeps ReLU activations' second moment constant.",
)
_HE_U = InitScheme(
    "he_uniform",
    "uniform",
    _HE.std,
    description="Kaiming/He uniform, same variance as 'he'.",
)
_XAVIER = InitScheme(
    "xavier",
    "normal",
    lambda fi, fo, g, s: g * math.sqrt(2.0 / (fi + fo)),
    description="Glorot/Xavier normal: balances forward and backward variance for tanh.",
)
_XAVIER_U = InitScheme(
    "xavier_uniform",
    "uniform",
    _XAVIER.std,
    description="Glorot/Xavier uniform, same variance as 'xavier'.",
)
_LECUN = InitScheme(
    "lecun",
    "normal",
    lambda fi, fo, g, s: g * math.sqrt(1.0 / fi),
    description="LeCun normal: variance 1 / fan_in.",
)
_ORTHO = InitScheme(
    "orthogonal",
    "orthogonal",
    lambda fi, fo, g, s: g / math.sqrt(max(fi, fo)),
    description="gain * Q with orthonormal columns (fan_in >= fan_out) or rows (otherwise); "
    "use gain=sqrt(2) for ReLU.",
)
_SMALL = InitScheme(
    "small",
    "normal",
    lambda fi, fo, g, s: 0.01 * g,
    description="N(0, 0.01^2): deliberately poor, signals vanish in deep ReLU nets.",
)
_PLAYGROUND = InitScheme(
    "playground",
    "uniform",
    # U(-0.5, 0.5) has sd 0.5 / sqrt(3); `uniform` draws U(-sqrt(3) s, sqrt(3) s)
    lambda fi, fo, g, s: 0.5 * g / math.sqrt(3.0),
    bias="constant",
    bias_value=0.1,
    description="TensorFlow Playground: weights U(-0.5, 0.5), biases 0.1 (src/nn.ts).",
)
_MEANFIELD = InitScheme(
    "meanfield",
    "normal",
    lambda fi, fo, g, s: math.sqrt(s / fi),
    bias="normal",
    description="Mean-field / edge-of-chaos: W ~ N(0, sigma_w2 / fan_in), b ~ N(0, sigma_b2).",
)

#: Every accepted scheme name (aliases included) -> its :class:`InitScheme`.
INIT_SCHEMES: dict[str, InitScheme] = {
    "he": _HE,
    "kaiming": _HE,
    "he_uniform": _HE_U,
    "kaiming_uniform": _HE_U,
    "xavier": _XAVIER,
    "glorot": _XAVIER,
    "xavier_uniform": _XAVIER_U,
    "glorot_uniform": _XAVIER_U,
    "lecun": _LECUN,
    "orthogonal": _ORTHO,
    "small": _SMALL,
    "playground": _PLAYGROUND,
    "meanfield": _MEANFIELD,
}


def _scheme(name: str) -> InitScheme:
    if isinstance(name, str) and name in INIT_SCHEMES:
        return INIT_SCHEMES[name]
    raise ValueError(
        f"unknown init scheme {name!r}{hint(name, INIT_SCHEMES)} valid schemes: "
        f"{', '.join(INIT_SCHEMES)}"
    )


def _finite(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def check_init_args(
    scheme: str,
    gain: float | None = None,
    sigma_w2: float | None = None,
    sigma_b2: float | None = None,
) -> InitScheme:
    """Validate a scheme name and its hyper-parameters; return the registry entry.

    Raises
    ------
    ValueError
        Unknown scheme (with the closest name); ``gain`` not > 0 or given with
        ``meanfield``; ``sigma_w2`` / ``sigma_b2`` given with a scheme other than
        ``meanfield`` (they would be silently ignored); ``meanfield`` without ``sigma_w2``;
        ``sigma_w2 <= 0`` or ``sigma_b2 < 0``.
    """
    spec = _scheme(scheme)
    if spec.name == "meanfield":
        if gain is not None:
            raise ValueError("init='meanfield' takes sigma_w2 (weight variance), not gain")
        if sigma_w2 is None:
            raise ValueError(
                "init='meanfield' needs sigma_w2 (weight variance times fan_in), e.g. "
                "sigma_w2=2.0 for ReLU at the edge of chaos; sigma_b2 defaults to 0"
            )
        if not _finite(sigma_w2) or sigma_w2 <= 0:
            raise ValueError(f"sigma_w2 must be a finite number > 0, got {sigma_w2!r}")
        if sigma_b2 is not None and (not _finite(sigma_b2) or sigma_b2 < 0):
            raise ValueError(f"sigma_b2 must be a finite number >= 0, got {sigma_b2!r}")
    else:
        if sigma_w2 is not None or sigma_b2 is not None:
            raise ValueError(
                f"sigma_w2 / sigma_b2 only apply to init='meanfield', not {scheme!r}; "
                "use gain to scale this scheme"
            )
        if gain is not None and (not _finite(gain) or gain <= 0):
            raise ValueError(f"gain must be a finite number > 0, got {gain!r}")
    return spec


def check_residual_init(residual_init: str, residual: int = 0) -> str:
    """Validate a residual-init name for a network with ``residual`` layers per block.

    Raises
    ------
    ValueError
        Unknown name (with the closest valid one), or a name other than ``'none'`` for a
        plain network (``residual == 0``), where it would be silently ignored.
    """
    if not isinstance(residual_init, str) or residual_init not in RESIDUAL_INITS:
        raise ValueError(
            f"unknown residual_init {residual_init!r}{hint(residual_init, RESIDUAL_INITS)} "
            f"valid: {', '.join(RESIDUAL_INITS)}"
        )
    if residual_init != "none" and residual <= 0:
        raise ValueError(
            f"residual_init={residual_init!r} only applies to residual networks; set "
            "residual=True or residual_init='none'"
        )
    return residual_init


def weight_std(
    scheme: str,
    fan_in: int,
    fan_out: int,
    *,
    gain: float | None = None,
    sigma_w2: float | None = None,
) -> float:
    """Theoretical standard deviation of one weight entry of a ``fan_in x fan_out`` layer.

    For ``orthogonal`` it is the root mean square entry, ``gain / sqrt(max(fan_in, fan_out))``.
    """
    spec = check_init_args(scheme, gain, sigma_w2)
    return spec.std(int(fan_in), int(fan_out), 1.0 if gain is None else float(gain), sigma_w2)


def _orthogonal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """A ``(fan_in, fan_out)`` matrix with orthonormal columns (tall) or rows (wide)."""
    tall = fan_in >= fan_out
    a = rng.standard_normal((fan_in, fan_out) if tall else (fan_out, fan_in))
    q, r = np.linalg.qr(a)  # reduced QR: q has orthonormal columns
    # multiply by sign(diag r) so Q is Haar-distributed and not biased by the QR convention
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    q = q * d
    return q if tall else q.T


def init_params(
    layout: Layout,
    scheme: str = "he",
    rng: np.random.Generator | int | None = None,
    *,
    gain: float | None = None,
    sigma_w2: float | None = None,
    sigma_b2: float | None = None,
    dtype: np.dtype | type | str = np.float64,
    residual: int = 0,
    residual_init: str = "none",
) -> np.ndarray:
    """Draw a network's initial packed parameter vector.

    Parameters
    ----------
    layout : Layout
        Network shape; the output layer is drawn with the same scheme as hidden layers.
    scheme : str
        A key of :data:`INIT_SCHEMES` (see the module docstring for the formulas).
    rng : numpy.random.Generator, int or None
        Generator (advanced in place), a seed for ``np.random.default_rng``, or ``None``
        for fresh OS entropy (not reproducible).
    gain : float, optional
        Multiplies the weights of every scheme except ``meanfield``; default 1.
    sigma_w2, sigma_b2 : float, optional
        ``meanfield`` only: weight variance times fan_in (required) and bias variance
        (default 0, i.e. zero biases).
    dtype : numpy dtype, default float64
        Result dtype. Numbers are always drawn in float64 and then cast, so float32 and
        float64 runs from the same generator state start from the same (rounded) numbers.
    residual : int, default 0
        Hidden layers per residual block (0 = plain network), as the kernels take it.
    residual_init : {'none', 'zero', 'scaled'}, default 'none'
        Rescaling of each block's last layer, applied after all layers are drawn (see
        the module docstring); needs ``residual > 0`` unless ``'none'``.

    Returns
    -------
    ndarray, shape (layout.n_params,), dtype ``dtype``
        Packed as :meth:`Layout.pack` expects: per layer ``W`` row-major then ``b``.

    Raises
    ------
    ValueError
        Unknown scheme (with the closest valid name), invalid hyper-parameters (see
        :func:`check_init_args` and :func:`check_residual_init`), or a non-floating
        ``dtype``.

    Examples
    --------
    >>> from fastdepth.kernels.layout import Layout
    >>> p = init_params(Layout(2, [16, 16]), "he", rng=0)
    >>> p.shape
    (337,)
    """
    spec = check_init_args(scheme, gain, sigma_w2, sigma_b2)
    check_residual_init(residual_init, residual)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating type (float32 or float64), got {dtype}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    g = 1.0 if gain is None else float(gain)
    sb2 = 0.0 if sigma_b2 is None else float(sigma_b2)

    flat = np.zeros(layout.n_params, dtype=np.float64)
    for k in range(layout.n_layers):
        fi, fo = int(layout.table[k, FAN_IN]), int(layout.table[k, FAN_OUT])
        w = layout.weight_view(flat, k)
        if spec.distribution == "orthogonal":
            w[...] = g * _orthogonal(rng, fi, fo)
        elif spec.distribution == "uniform":
            a = math.sqrt(3.0) * spec.std(fi, fo, g, sigma_w2)
            w[...] = rng.uniform(-a, a, (fi, fo))
        else:
            w[...] = spec.std(fi, fo, g, sigma_w2) * rng.standard_normal((fi, fo))
        b = layout.bias_view(flat, k)
        if spec.bias == "constant":
            b[...] = spec.bias_value
        elif spec.bias == "normal":
            # drawn even when sigma_b2 == 0 so the stream, hence the weights of later
            # layers, do not depend on sigma_b2: a sigma_b2 sweep shares its weights
            b[...] = math.sqrt(sb2) * rng.standard_normal(fo)
    if residual_init != "none":
        # After the draws, so the random stream and every other layer are unchanged.
        ends = block_ends(layout.depth, residual)
        for k in ends:
            for view in (layout.weight_view(flat, k), layout.bias_view(flat, k)):
                if residual_init == "zero":
                    view[...] = 0.0
                else:
                    view *= 1.0 / math.sqrt(len(ends))
    return flat.astype(dtype, copy=False)
