"""NYSE sessions, holidays and early closes, offline, from exchange-calendars.

exchange-calendars fixes its default window at import time (now − 20 years … now + 1 year) and
fails beyond it, so `MarketCalendar` always builds an explicit window and rebuilds it when a
query comes near an edge. Calendar data knows only rules and announced closures: compare with
the broker's calendar at runtime when one is available.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd

from daemon.clock import as_utc

NEW_YORK = ZoneInfo("America/New_York")

_PANDAS4_WARNING: type[Warning] = getattr(pd.errors, "Pandas4Warning", DeprecationWarning)

_LOOKBACK = timedelta(days=366)
_LOOKAHEAD = timedelta(days=400)
_MARGIN = timedelta(days=31)  # rebuild when a query comes this close to the window's end
_MAX_GAP_DAYS = 31  # no NYSE closure in the calendar's range lasts longer


class MarketCalendar:
    """Trading sessions of one exchange (default XNYS), with a self-extending window.

    A session is named by its local (New York) date. Times are returned timezone-aware UTC.
    """

    def __init__(
        self,
        exchange: str = "XNYS",
        *,
        start: date | None = None,
        end: date | None = None,
    ) -> None:
        today = datetime.now(UTC).astimezone(NEW_YORK).date()
        self._exchange = exchange
        self._start = start or today - _LOOKBACK
        self._end = end or today + _LOOKAHEAD
        self._cal = self._build()

    @property
    def window(self) -> tuple[date, date]:
        """Return the first and last day the underlying calendar currently covers."""
        return self._start, self._end

    def is_session(self, day: date) -> bool:
        """Return whether the exchange trades on `day` (a New York date)."""
        d = self._ensure(_as_date(day))
        return bool(self._cal.is_session(pd.Timestamp(d)))

    def session_open_close(self, day: date) -> tuple[datetime, datetime] | None:
        """Return the open and close of the session on `day`, or None when it is closed.

        Early closes are included: 2026-11-27 closes at 13:00 New York time.
        """
        d = self._ensure(_as_date(day))
        ts = pd.Timestamp(d)
        if not self._cal.is_session(ts):
            return None
        return _to_utc(self._cal.session_open(ts)), _to_utc(self._cal.session_close(ts))

    def is_open(self, ts: datetime) -> bool:
        """Return whether the market is open at `ts` (open inclusive, close exclusive)."""
        t = as_utc(ts)
        hours = self.session_open_close(t.astimezone(NEW_YORK).date())
        return hours is not None and hours[0] <= t < hours[1]

    def next_open(self, ts: datetime) -> datetime:
        """Return the first session open strictly after `ts`."""
        t = as_utc(ts)
        day = t.astimezone(NEW_YORK).date()
        for offset in range(_MAX_GAP_DAYS + 1):
            hours = self.session_open_close(day + timedelta(days=offset))
            if hours is not None and hours[0] > t:
                return hours[0]
        raise LookupError(f"no {self._exchange} session within {_MAX_GAP_DAYS} days of {t}")

    def sessions(self, start: date, end: date) -> list[date]:
        """Return the session dates from `start` to `end`, both inclusive."""
        self._ensure(_as_date(start))
        self._ensure(_as_date(end))
        found = self._cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
        return [ts.date() for ts in found]

    def _ensure(self, day: date) -> date:
        """Extend and rebuild the window if `day` is outside it or near its end."""
        start, end = self._start, self._end
        if day < start + _MARGIN:
            start = min(start, day - _LOOKBACK)
        if day > end - _MARGIN:
            end = day + _LOOKAHEAD
        if (start, end) != (self._start, self._end):
            self._start, self._end = start, end
            self._cal = self._build()
        return day

    def _build(self) -> xcals.ExchangeCalendar:
        with warnings.catch_warnings():
            # exchange-calendars 4.13 reads Series.values, deprecated in pandas 3.1.
            warnings.filterwarnings("ignore", category=_PANDAS4_WARNING)
            return xcals.get_calendar(
                self._exchange, start=self._start.isoformat(), end=self._end.isoformat()
            )


def _as_date(day: date) -> date:
    if isinstance(day, datetime):  # a datetime is a date too: take its New York date
        return as_utc(day).astimezone(NEW_YORK).date()
    return day


def _to_utc(ts: pd.Timestamp) -> datetime:
    return as_utc(ts.to_pydatetime())
