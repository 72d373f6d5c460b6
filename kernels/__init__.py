"""fastdepth.kernels: the compiled core. NumPy arrays in, preallocated arrays out.

Every public function has a plain-NumPy twin of the same name and signature in
:mod:`fastdepth.kernels.reference`. Arrays are feature-major (samples along the
last axis); see :mod:`fastdepth.kernels.api`.
"""

from . import settings
from .api import (
    accuracy,
    activation,
    activation_grad,
    activation_sq_means,
    adam_step,
    backward,
    bce_with_logits,
    clip_grad_norm,
    dead_fractions,
    forward,
    layer_grad_norms,
    momentum_step,
    mse,
    permutation,
    saturated_fractions,
    sgd_step,
    signal_norms,
    train_batch,
)
from .curvature import hvp, top_eigenvalues
from .exactsum import exact_sum
from .layout import Layout
from .regions import pattern_hashes
from .telemetry import telemetry_layout, telemetry_size

__all__ = [
    "Layout",
    "accuracy",
    "activation",
    "activation_grad",
    "activation_sq_means",
    "adam_step",
    "backward",
    "bce_with_logits",
    "clip_grad_norm",
    "dead_fractions",
    "forward",
    "layer_grad_norms",
    "momentum_step",
    "mse",
    "pattern_hashes",
    "permutation",
    "saturated_fractions",
    "settings",
    "sgd_step",
    "signal_norms",
    "telemetry_layout",
    "telemetry_size",
    "train_batch",
    "hvp",
    "top_eigenvalues",
    "exact_sum",
]

# The names every kernel module shares with its reference twin (checked by the tests).
PUBLIC_KERNELS = tuple(
    n for n in __all__ if n not in ("Layout", "settings", "telemetry_layout", "telemetry_size")
)
