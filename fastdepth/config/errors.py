"""The configuration error and the one way it names an unknown value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdepth.kernels.vocab import unknown_message

__all__ = ["FIELD_ALIASES", "ConfigError", "unknown"]

# Misspellings difflib cannot guess from a short target name.
FIELD_ALIASES = {
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


def unknown(kind: str, value: Any, valid: Iterable[str]) -> ConfigError:
    """``unknown activation 'rleu'; did you mean 'relu'? valid: identity, relu, ...``."""
    return ConfigError(unknown_message(kind, value, valid, FIELD_ALIASES))
