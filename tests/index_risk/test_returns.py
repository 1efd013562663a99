"""The rolling returns window: simple daily returns of the days added, splits and dividends
applied to the history, never a day not yet added (issue #12 §2: "never looking ahead in a
backtest")."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.index.returns import ReturnsWindow

from .riskkit import feed, load_days

D0 = date(2024, 1, 2)
PROPERTY = settings(max_examples=100, deadline=None)


def _day(i: int) -> date:
    return D0 + timedelta(days=i)


def test_returns_are_the_ratio_of_consecutive_closes() -> None:
    """A return is close(t) / close(t-1) - 1, oldest first, as of the last day added."""
    window = ReturnsWindow(5)
    for i, (a, b) in enumerate([(100.0, 50.0), (110.0, 50.0), (99.0, 55.0)]):
        window.add_day(_day(i), {"A": a, "B": b})
    returns, as_of = window.matrix(["B", "A"])
    assert as_of == _day(2)
    np.testing.assert_allclose(returns, [[0.0, 0.1], [0.1, -0.1]])


def test_the_window_keeps_the_last_window_days_returns() -> None:
    """With window_days = 3, after ten days the matrix holds the returns of days 7, 8, 9."""
    window = ReturnsWindow(3)
    for i in range(10):
        window.add_day(_day(i), {"A": 2.0**i})
    returns, as_of = window.matrix(["A"])
    assert as_of == _day(9)
    np.testing.assert_allclose(returns, [[1.0], [1.0], [1.0]])


def test_fewer_than_two_days_give_no_returns() -> None:
    """No day, or one day, has no return yet: an empty matrix with one column per symbol."""
    window = ReturnsWindow(3)
    assert window.matrix(["A"])[0].shape == (0, 1)
    assert window.matrix(["A"])[1] is None
    window.add_day(D0, {"A": 1.0})
    assert window.matrix(["A", "B"])[0].shape == (0, 2)


def test_a_missing_close_makes_both_returns_around_it_missing() -> None:
    """A day without a close (or a symbol never seen) has NaN returns, never a zero."""
    window = ReturnsWindow(5)
    window.add_day(_day(0), {"A": 10.0, "B": 1.0})
    window.add_day(_day(1), {"B": 1.0})
    window.add_day(_day(2), {"A": 11.0, "B": 1.0})
    window.add_day(_day(3), {"A": 12.1, "B": 1.0})
    returns, _ = window.matrix(["A", "NEW"])
    assert np.isnan(returns[:2, 0]).all()
    assert returns[2, 0] == pytest.approx(0.1)
    assert np.isnan(returns[:, 1]).all()


def test_days_must_be_added_in_order() -> None:
    """A day on or before the last one added is refused: the window only moves forward."""
    window = ReturnsWindow(5)
    window.add_day(_day(1), {"A": 1.0})
    with pytest.raises(ValueError, match="in order"):
        window.add_day(_day(1), {"A": 1.0})


def test_a_split_day_is_no_fake_loss() -> None:
    """README of the shared data: AAPL closed at 645.57 on 2014-06-06 and 93.70 on
    2014-06-09, split_coefficient 7.00000700001; the split day's return is +1.6 %, not -85 %."""
    window = ReturnsWindow(5)
    window.add_day(date(2014, 6, 6), {"AAPL": 645.57})
    window.apply_split("AAPL", 7.00000700001)
    window.add_day(date(2014, 6, 9), {"AAPL": 93.70})
    returns, _ = window.matrix(["AAPL"])
    assert returns[0, 0] == pytest.approx(93.70 * 7.00000700001 / 645.57 - 1)


def test_a_dividend_counts_in_the_ex_day_return() -> None:
    """A dividend of D going ex after a close of P makes the ex day's return (P' + D)/P - 1,
    the holding's total return (and the convention of the shared set's adjusted closes)."""
    window = ReturnsWindow(5)
    window.add_day(_day(0), {"A": 100.0})
    window.apply_dividend("A", 2.0)
    window.add_day(_day(1), {"A": 99.0})
    returns, _ = window.matrix(["A"])
    assert returns[0, 0] == pytest.approx(101.0 / 100.0 - 1)


def test_real_returns_match_the_adjusted_closes() -> None:
    """sp500_1999_2021: returns of raw closes with the set's splits and dividends applied equal
    the returns of its split- and dividend-adjusted `adjusted_close` (AAPL: 2:1 in 2000 and
    2005, 7:1 in 2014, 4:1 in 2020; MSFT: 2:1 in 2003, quarterly dividends and the $3.08
    special dividend of 2004-11-15)."""
    days = load_days(("AAPL", "MSFT"), date(1999, 11, 1), date(2021, 4, 21))
    window = ReturnsWindow(len(days))
    for day in days:
        feed(window, day)
    returns, _ = window.matrix(["AAPL", "MSFT"])
    adjusted = np.array([[d.adjusted["AAPL"], d.adjusted["MSFT"]] for d in days])
    np.testing.assert_allclose(returns, adjusted[1:] / adjusted[:-1] - 1, atol=2e-6)


@PROPERTY
@given(
    closes=st.lists(
        st.lists(st.one_of(st.none(), st.floats(1.0, 1000.0)), min_size=3, max_size=3),
        min_size=1,
        max_size=40,
    ),
    window_days=st.integers(1, 12),
)
def test_the_matrix_holds_exactly_the_days_added(
    closes: list[list[float | None]], window_days: int
) -> None:
    """After each day the matrix is the returns of the last `window_days` days added up to
    that day, and nothing else (no look-ahead, no stale day from the ring buffer)."""
    window = ReturnsWindow(window_days)
    history = np.array([[np.nan if c is None else c for c in row] for row in closes])
    for i, row in enumerate(closes):
        window.add_day(_day(i), {s: c for s, c in zip("ABC", row, strict=True) if c is not None})
        returns, as_of = window.matrix(["A", "B", "C"])
        past = history[max(0, i - window_days) : i + 1]
        assert as_of == _day(i)
        np.testing.assert_allclose(returns, past[1:] / past[:-1] - 1, equal_nan=True)


def test_a_later_split_leaves_past_returns_unchanged() -> None:
    """A split rescales the stored closes and dividends alike: the returns already in the
    window, a dividend's ex day included, are the same after it."""
    window = ReturnsWindow(5)
    window.add_day(_day(0), {"A": 100.0})
    window.apply_dividend("A", 2.0)
    window.add_day(_day(1), {"A": 99.0})
    window.add_day(_day(2), {"A": 103.0})
    before, _ = window.matrix(["A"])
    window.apply_split("A", 2)
    window.add_day(_day(3), {"A": 51.5})
    after, _ = window.matrix(["A"])
    np.testing.assert_allclose(after, [*before, [0.0]])
