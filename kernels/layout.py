"""Packed parameter layout: one network's weights and biases in one flat vector.

Layer ``k`` (0-based; the last layer is the output layer) maps ``fan_in`` to
``fan_out`` units as ``h @ W + b`` with ``W`` shaped ``(fan_in, fan_out)`` and
stored row-major at ``w_off``, followed by ``b`` (``fan_out``) at ``b_off``.
The compiled kernels take the integer table ``Layout.table`` (shape
``(n_layers, 4)``: fan_in, fan_out, w_off, b_off), so a layout is plain data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FAN_IN, FAN_OUT, W_OFF, B_OFF = 0, 1, 2, 3


def skip_source(k: int, n_hidden: int, rblock: int) -> int:
    """Hidden layer whose output is added to hidden layer ``k``'s pre-activation, or -1.

    Residual blocks of ``rblock`` layers (0 = plain): hidden layer 0 is never skipped and
    layer ``e`` ends a block when ``e >= rblock`` and ``e % rblock == 0`` (see
    :mod:`fastdepth.kernels.dense`, whose compiled ``skip_source`` is this rule's twin).
    """
    return k - rblock if rblock > 0 and k >= rblock and k % rblock == 0 and k < n_hidden else -1


def block_ends(n_hidden: int, rblock: int) -> list[int]:
    """Hidden layers (0-based) that end a residual block, i.e. receive a skip; ``[]`` if plain."""
    return [k for k in range(n_hidden) if skip_source(k, n_hidden, rblock) >= 0]


def dense_macs(table: np.ndarray) -> int:
    """Multiply-adds of one forward pass per sample: ``S = sum(fan_in * fan_out)``."""
    return int(np.sum(table[:, FAN_IN] * table[:, FAN_OUT]))


def train_flops_per_sample(table: np.ndarray) -> int:
    """FLOPs of one training step per sample (forward, backward, update): ``6 S - 2 w_1``.

    ``2 S`` each for the forward products, the input gradients and the weight gradients,
    less the input gradient of the first layer (``w_1 = fan_in * fan_out`` of layer 0),
    which nothing needs. Elementwise work (activations, loss, optimizer) is not counted:
    this is the FLOP count that GFLOP/s figures in bench/ and the README divide by.
    """
    return 6 * dense_macs(table) - 2 * int(table[0, FAN_IN] * table[0, FAN_OUT])


def run_flops(
    table: np.ndarray, n_train: int, n_test: int, epochs: int, n_eval: int, include_eval=True
) -> int:
    """FLOPs of a whole run: every epoch trains on each sample once, whatever the batch
    size, plus ``n_eval`` forward passes over both splits (``2 S`` per sample each)."""
    total = train_flops_per_sample(table) * int(n_train) * int(epochs)
    if include_eval:
        total += int(n_eval) * 2 * dense_macs(table) * (int(n_train) + int(n_test))
    return int(total)


@dataclass(frozen=True)
class Layout:
    """Offsets of every ``W`` and ``b`` of a fully connected network in a packed vector.

    Parameters
    ----------
    n_in : int
        Input dimension, >= 1.
    widths : sequence of int
        Hidden layer widths (any list, length = depth >= 0), each >= 1.
    n_out : int
        Output units (1 for the binary / scalar tasks fastdepth studies).

    Attributes
    ----------
    table : ndarray of int64, shape (n_layers, 4)
        ``fan_in, fan_out, w_off, b_off`` per layer, output layer last.
    n_params : int
        Length of the packed vector.
    """

    n_in: int
    widths: tuple[int, ...]
    n_out: int = 1
    table: np.ndarray = field(init=False, repr=False, compare=False)
    n_params: int = field(init=False)

    def __init__(self, n_in: int, widths: Sequence[int], n_out: int = 1) -> None:
        widths = tuple(int(w) for w in widths)
        if int(n_in) < 1:
            raise ValueError(f"n_in must be >= 1, got {n_in}")
        if int(n_out) < 1:
            raise ValueError(f"n_out must be >= 1, got {n_out}")
        bad = [w for w in widths if w < 1]
        if bad:
            raise ValueError(f"every hidden width must be >= 1, got {list(widths)}")
        sizes = (int(n_in), *widths, int(n_out))
        table = np.zeros((len(sizes) - 1, 4), dtype=np.int64)
        off = 0
        for k in range(len(sizes) - 1):
            fi, fo = sizes[k], sizes[k + 1]
            table[k] = (fi, fo, off, off + fi * fo)
            off += fi * fo + fo
        table.setflags(write=False)
        object.__setattr__(self, "n_in", int(n_in))
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "n_out", int(n_out))
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "n_params", int(off))

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.widths) + 1

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.widths)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Units per layer from input to output, length ``depth + 2``."""
        return (self.n_in, *self.widths, self.n_out)

    @property
    def n_units(self) -> int:
        """Units of all non-input layers (hidden + output): activation buffer width."""
        return int(sum(self.widths) + self.n_out)

    @property
    def flops_per_sample(self) -> int:
        """FLOPs of one training step per sample, ``6 S - 2 w_1`` (see
        :func:`train_flops_per_sample`)."""
        return train_flops_per_sample(self.table)

    def pack(self, params: Sequence[tuple[np.ndarray, np.ndarray]], dtype=None) -> np.ndarray:
        """Pack ``[(W, b), ...]`` (``W`` shaped (fan_in, fan_out)) into a flat vector.

        Returns
        -------
        ndarray, shape (n_params,)
            dtype of the first ``W`` unless ``dtype`` is given.
        """
        if len(params) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} (W, b) pairs, got {len(params)}")
        dtype = np.dtype(dtype if dtype is not None else np.asarray(params[0][0]).dtype)
        flat = np.empty(self.n_params, dtype=dtype)
        for k, (w, b) in enumerate(params):
            fi, fo, wo, bo = (int(v) for v in self.table[k])
            w = np.asarray(w)
            b = np.asarray(b)
            if w.shape != (fi, fo) or b.shape != (fo,):
                raise ValueError(
                    f"layer {k}: expected W {(fi, fo)} and b {(fo,)}, got {w.shape} and {b.shape}"
                )
            flat[wo:bo] = w.ravel()
            flat[bo : bo + fo] = b
        return flat

    def unpack(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Split a packed vector into ``[(W, b), ...]`` copies, ``W`` shaped (fan_in, fan_out)."""
        flat = np.asarray(flat)
        if flat.shape != (self.n_params,):
            raise ValueError(f"expected a vector of {self.n_params} parameters, got {flat.shape}")
        out = []
        for fi, fo, wo, bo in self.table:
            out.append((flat[wo:bo].reshape(fi, fo).copy(), flat[bo : bo + fo].copy()))
        return out

    def weight_view(self, flat: np.ndarray, k: int) -> np.ndarray:
        """A view of layer ``k``'s ``W`` inside ``flat`` (no copy), shape (fan_in, fan_out)."""
        fi, fo, wo, bo = (int(v) for v in self.table[k])
        return flat[wo:bo].reshape(fi, fo)

    def bias_view(self, flat: np.ndarray, k: int) -> np.ndarray:
        """A view of layer ``k``'s ``b`` inside ``flat`` (no copy), shape (fan_out,)."""
        fo, bo = int(self.table[k, FAN_OUT]), int(self.table[k, B_OFF])
        return flat[bo : bo + fo]
