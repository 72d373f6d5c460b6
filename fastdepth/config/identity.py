"""What a run *is*: its canonical form (hence its ``run_id``) and its random-stream keys.

The canonical form resolves every default and drops fields without effect, so two
configs describing the same experiment hash the same. Which optimizer fields count
comes from :attr:`fastdepth.kernels.vocab.Optimizer.hyper`, which activations take
``alpha`` from :attr:`fastdepth.kernels.vocab.Activation.alpha`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastdepth import datasets
from fastdepth.kernels.vocab import ACTIVATIONS, OPTIMIZERS

if TYPE_CHECKING:
    from .run import RunConfig

__all__ = ["canonical_dict", "data_key", "hash_key", "init_fields", "init_key"]


def hash_key(tag: str, payload: Mapping[str, Any]) -> int:
    """A 63-bit integer (fits int64, non-negative) from a tagged hash of ``payload``."""
    text = tag + "\0" + json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def init_fields(c: RunConfig) -> dict[str, Any]:
    """The init scheme and the parameters it reads, defaults resolved."""
    if c.init == "meanfield":
        sb2 = 0.0 if c.sigma_b2 is None else c.sigma_b2
        return {"init": c.init, "sigma_w2": c.sigma_w2, "sigma_b2": sb2}
    return {"init": c.init, "gain": 1.0 if c.gain is None else c.gain}


def canonical_dict(c: RunConfig) -> dict[str, Any]:
    """See :meth:`fastdepth.config.RunConfig.canonical_dict`."""
    noise, params = datasets.resolve_params(c.dataset, c.noise, **c.dataset_kwargs)
    d: dict[str, Any] = {
        "dataset": c.dataset,
        "dataset_params": params,
        "noise": noise,
        "n_train": c.n_train,
        "n_test": c.n_test,
        "data_seed": c.data_seed,
        "widths": list(c.hidden_widths),
        "activation": c.activation,
        "residual": c.residual,
        "loss": c.loss,
        "optimizer": c.optimizer,
        "lr": c.lr,
        "weight_decay": c.weight_decay,
        "clip": c.clip,
        "schedule": c.schedule,
        "batch_size": c.batch_size,
        "epochs": c.epochs,
        "log_every": c.log_every,
        "eval_every": c.eval_every,
        "dtype": c.dtype,
        "seed": c.seed,
    }
    d.update(init_fields(c))
    if ACTIVATIONS.entry(c.activation).alpha is not None:
        d["alpha"] = c.effective_alpha
    if c.residual:
        d["residual_block"] = c.residual_block
        if c.residual_init != "none":  # absent when 'none': older run ids stay valid
            d["residual_init"] = c.residual_init
    for name in OPTIMIZERS.entry(c.optimizer).hyper:
        d[name] = getattr(c, name)
    if c.snapshot_every:  # absent when off: older run ids stay valid
        d["snapshot_every"] = c.snapshot_every
    if c.lr_rule != "fixed":  # absent when fixed, the settings below when not measured
        d["lr_rule"] = c.lr_rule
    if c.sharpness_every:
        d["sharpness_every"] = c.sharpness_every
    if c.measures_sharpness:
        d.update(sharpness_k=c.sharpness_k, sharpness_iters=c.sharpness_iters,
                 sharpness_tol=c.sharpness_tol)  # fmt: skip
    if c.count_regions != "off":  # absent when off: older run ids stay valid
        # Not the training (init_key / data_key leave it out: the same weights and batches)
        # but what the run records, so a grid may hold a run with and without the counts.
        d["count_regions"] = c.count_regions
        if c.count_regions == "grid":
            d["regions_resolution"] = c.regions_resolution
    return d


def init_key(c: RunConfig) -> int:
    """See :meth:`fastdepth.config.RunConfig.init_key`."""
    payload = {"n_in": c.n_in, "widths": list(c.hidden_widths), "seed": c.seed}
    payload.update(init_fields(c))
    return hash_key("fastdepth.init", payload)


def data_key(c: RunConfig) -> int:
    """See :meth:`fastdepth.config.RunConfig.data_key`."""
    d = c.canonical_dict()
    keys = ("dataset", "dataset_params", "noise", "n_train", "n_test", "data_seed")
    payload = {k: d[k] for k in keys}
    payload.update(seed=c.seed, batch_size=c.batch_size)
    return hash_key("fastdepth.data", payload)
