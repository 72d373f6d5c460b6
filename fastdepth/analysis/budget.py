"""Parameter budgets: how many parameters an architecture has, and which fits a budget.

A fully connected network ``n_in -> w_1 -> ... -> w_L -> n_out`` has
``sum_k (fan_in_k + 1) fan_out_k`` parameters (weights and biases, as
:class:`~fastdepth.kernels.Layout` packs them); residual skips add none. With equal widths
``w`` at depth ``L >= 1`` that is ``(L - 1) w^2 + (n_in + L + n_out) w + n_out``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..kernels.layout import Layout

__all__ = ["depth_for", "n_params", "width_for"]


def n_params(n_in: int, widths: Sequence[int], n_out: int = 1) -> int:
    """Number of parameters (weights + biases) of ``n_in -> widths... -> n_out``.

    Parameters
    ----------
    n_in : int
        Input dimension.
    widths : sequence of int
        Hidden widths, any length (``[w] * depth`` for equal widths).
    n_out : int
        Output units.
    """
    return Layout(n_in, widths, n_out).n_params


def _check(n_in: int, n_out: int, budget: int, what: str, value: int) -> None:
    for name, v in (("n_in", n_in), ("n_out", n_out), (what, value)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v}")
    if int(budget) != budget:
        raise ValueError(f"budget must be an integer number of parameters, got {budget}")


def width_for(n_in: int, depth: int, budget: int, n_out: int = 1) -> int:
    """Largest equal width whose ``depth``-layer network has at most ``budget`` parameters.

    Raises
    ------
    ValueError
        If even width 1 exceeds the budget.
    """
    _check(n_in, n_out, budget, "depth", depth)
    smallest = n_params(n_in, [1] * depth, n_out)
    if smallest > budget:
        raise ValueError(
            f"no {depth}-layer network fits in {budget} parameters: width 1 already has "
            f"{smallest}; raise the budget or lower the depth"
        )
    a, b, c = depth - 1, n_in + depth + n_out, n_out - budget
    w = int(-c / b) if a == 0 else int((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a))
    # The closed form can be off by one in floating point; settle it on exact integers.
    w = max(w, 1)
    while n_params(n_in, [w + 1] * depth, n_out) <= budget:
        w += 1
    while w > 1 and n_params(n_in, [w] * depth, n_out) > budget:
        w -= 1
    return w


def depth_for(n_in: int, width: int, budget: int, n_out: int = 1) -> int:
    """Largest depth at which a network of equal ``width`` has at most ``budget`` parameters.

    The inverse of :func:`width_for` along the other axis. ``ValueError`` if even one
    hidden layer exceeds the budget.
    """
    _check(n_in, n_out, budget, "width", width)
    one = n_params(n_in, [width], n_out)
    if one > budget:
        raise ValueError(
            f"one hidden layer of width {width} already has {one} > {budget} parameters; "
            "raise the budget or lower the width"
        )
    return 1 + (int(budget) - one) // (width * width + width)
