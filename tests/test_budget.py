"""Parameter budgets: counts, and the widths / depths that fit a budget."""

from __future__ import annotations

import pytest
from fastdepth.kernels import Layout

from fastdepth.analysis import depth_for, n_params, width_for


def test_n_params_counts_weights_and_biases():
    assert n_params(2, [3]) == 2 * 3 + 3 + 3 * 1 + 1
    assert n_params(2, [4, 5], n_out=2) == (2 * 4 + 4) + (4 * 5 + 5) + (5 * 2 + 2)
    assert n_params(3, []) == 4
    assert n_params(2, [16] * 8) == Layout(2, [16] * 8).n_params


@pytest.mark.parametrize("n_in", [1, 2, 5])
@pytest.mark.parametrize("n_out", [1, 3])
def test_width_for_is_the_largest_width_in_the_budget(n_in, n_out):
    for depth in (1, 2, 3, 8):
        for budget in range(n_params(n_in, [1] * depth, n_out), 3000, 37):
            w = width_for(n_in, depth, budget, n_out)
            assert n_params(n_in, [w] * depth, n_out) <= budget
            assert n_params(n_in, [w + 1] * depth, n_out) > budget


@pytest.mark.parametrize("n_in", [1, 2, 5])
def test_depth_for_is_the_largest_depth_in_the_budget(n_in):
    for width in (1, 3, 16):
        for budget in range(n_params(n_in, [width]), 4000, 53):
            d = depth_for(n_in, width, budget)
            assert n_params(n_in, [width] * d) <= budget < n_params(n_in, [width] * (d + 1))


def test_study_07_widths():
    """The equal-budget architectures of experiments/07_depth_vs_width (its RESULTS.md)."""
    assert [width_for(2, d, 1000) for d in (1, 2, 4, 8)] == [249, 29, 17, 11]
    assert [width_for(1, d, 1000) for d in (1, 2, 4, 8)] == [333, 29, 17, 11]
    assert [width_for(2, d, 250) for d in (1, 2, 4, 8)] == [62, 13, 8, 5]


def test_budgets_too_small_say_what_to_change():
    with pytest.raises(ValueError, match="no 8-layer network fits in 10 parameters"):
        width_for(2, 8, 10)
    with pytest.raises(ValueError, match="one hidden layer of width 100 already has 401"):
        depth_for(2, 100, 300)
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        width_for(2, 0, 100)
