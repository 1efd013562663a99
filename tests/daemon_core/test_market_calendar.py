"""The NYSE calendar: holidays, early closes, next open, and the self-extending window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from daemon.market_calendar import NEW_YORK, MarketCalendar


@pytest.fixture(scope="module")
def nyse() -> MarketCalendar:
    """One calendar built around 2026, as a daemon started then would build it."""
    return MarketCalendar(start=date(2025, 1, 1), end=date(2027, 6, 30))


def test_thanksgiving_is_not_a_session(nyse: MarketCalendar) -> None:
    """2026-11-26 (Thanksgiving) is a holiday: no session, no hours."""
    assert not nyse.is_session(date(2026, 11, 26))
    assert nyse.session_open_close(date(2026, 11, 26)) is None


def test_day_after_thanksgiving_closes_early(nyse: MarketCalendar) -> None:
    """2026-11-27 opens 09:30 and closes 13:00 New York time."""
    hours = nyse.session_open_close(date(2026, 11, 27))

    assert hours is not None
    opened, closed = (t.astimezone(NEW_YORK).time() for t in hours)
    assert (opened, closed) == (time(9, 30), time(13, 0))
    assert hours[1] == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_ad_hoc_closure_is_known(nyse: MarketCalendar) -> None:
    """2025-01-09 (national day of mourning for President Carter) was not a session."""
    assert not nyse.is_session(date(2025, 1, 9))


def test_next_open_skips_holiday_weekend(nyse: MarketCalendar) -> None:
    """From Friday 2026-07-03 (Independence Day observed), the next open is Monday 09:30."""
    assert nyse.next_open(datetime(2026, 7, 3, 16, 0, tzinfo=UTC)) == datetime(
        2026, 7, 6, 13, 30, tzinfo=UTC
    )


def test_is_open_includes_open_excludes_close(nyse: MarketCalendar) -> None:
    """The market is open from the open (inclusive) to the close (exclusive)."""
    at = lambda h, m: datetime(2026, 11, 27, h, m, tzinfo=NEW_YORK)  # noqa: E731

    assert not nyse.is_open(at(9, 29))
    assert nyse.is_open(at(9, 30))
    assert nyse.is_open(at(12, 59))
    assert not nyse.is_open(at(13, 0))


def test_window_extends_beyond_its_end() -> None:
    """A query past the built window rebuilds it instead of failing (exchange-calendars'
    default window is fixed at import and raises beyond it)."""
    cal = MarketCalendar(start=date(2026, 1, 1), end=date(2026, 12, 31))

    hours = cal.session_open_close(date(2031, 1, 2))

    assert hours is not None
    assert cal.window[1] > date(2031, 1, 2)


def test_window_extends_before_its_start() -> None:
    """A backtest can ask about days before the window: 2001-09-11 was no session."""
    cal = MarketCalendar(start=date(2026, 1, 1), end=date(2026, 12, 31))

    assert not cal.is_session(date(2001, 9, 11))
    assert cal.next_open(datetime(2001, 9, 11, tzinfo=UTC)).date() == date(2001, 9, 17)


def test_sessions_in_range(nyse: MarketCalendar) -> None:
    """sessions() lists trading days only, both ends inclusive."""
    assert nyse.sessions(date(2026, 11, 25), date(2026, 11, 30)) == [
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]
