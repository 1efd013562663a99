"""Which price moves look like a share split (strategies/split_check.py; issue #13 A.3: "a
drop whose ratio is near a split ratio (2, 3, 3/2, 4, 5, 7, 8, 10, and reverse)")."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.split_check import SPLIT_RATIOS, split_like


@pytest.mark.parametrize(
    ("before", "after", "ratio"),
    [
        (499.23, 129.04, Fraction(4)),  # AAPL 2020-08-28 -> 08-31 (tests/backtest/data/README.md)
        (645.57, 93.70, Fraction(7)),  # AAPL 2014-06-06 -> 2014-06-09
        (100.0, 66.0, Fraction(3, 2)),
        (100.0, 50.0, Fraction(2)),
        (10.0, 100.0, Fraction(1, 10)),  # a 1:10 reverse split
        (30.0, 90.0, Fraction(1, 3)),
    ],
)
def test_a_move_by_a_split_ratio_looks_like_that_split(
    before: float, after: float, ratio: Fraction
) -> None:
    """Moves by a split ratio, give or take the day's own move, look like that split."""
    assert split_like(before, after) == ratio


@pytest.mark.parametrize(("before", "after"), [(100.0, 80.0), (100.0, 120.0), (100.0, 40.0)])
def test_ordinary_moves_do_not_look_like_splits(before: float, after: float) -> None:
    """A 20 % fall or rise, or a fall to 40 % (2.5), is no split ratio."""
    assert split_like(before, after) is None


@given(st.floats(min_value=0.01, max_value=1e6), st.sampled_from(SPLIT_RATIOS))
def test_every_exact_split_ratio_is_recognised(price: float, ratio: Fraction) -> None:
    """Property: a price divided by any listed ratio looks like that ratio's split."""
    assert split_like(price, price / float(ratio)) == ratio
