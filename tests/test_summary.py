"""The across-seeds summary table's formatting."""

from __future__ import annotations

import math

import pytest

from fastdepth.summary import _fmt


@pytest.mark.parametrize(
    "value, text",
    [(0.5, "0.50"), (26.054, "26.05"), (999.994, "999.99"), (1234.5, "1.23e+03"),
     (1e150, "1e+150"), (-3e7, "-3e+07"), (math.nan, "-"), (math.inf, "-")],
)  # fmt: skip
def test_two_decimal_cells_never_print_a_huge_number_in_fixed_point(value, text):
    assert _fmt(value, "f2") == text
