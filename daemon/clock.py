"""Time as the engine sees it: the wall clock live, a hand-driven clock in backtests.

The same engine runs live, paper, backtest and demo; only the clock and the broker adapter
change. Every datetime that crosses this interface is timezone-aware UTC.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol

# A live sleep wakes at least this often to re-read the wall clock (suspend, NTP steps).
_MAX_LIVE_NAP = 60.0


class Clock(Protocol):
    """What the engine needs from time."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware UTC."""
        ...

    async def sleep_until(self, t: datetime) -> None:
        """Return once the clock reads `t` or later (at once if it already does)."""
        ...


def as_utc(t: datetime) -> datetime:
    """Return `t` converted to UTC; reject naive datetimes, whose instant is ambiguous."""
    if t.tzinfo is None or t.tzinfo.utcoffset(t) is None:
        raise ValueError(f"naive datetime {t.isoformat()}: give a timezone")
    return t.astimezone(UTC)


class LiveClock:
    """The system's wall clock."""

    def now(self) -> datetime:
        """Return the current wall-clock instant in UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, t: datetime) -> None:
        """Sleep until the wall clock reads `t`, re-checking at least once a minute."""
        target = as_utc(t)
        # Polling on purpose: nothing can signal "the wall clock reached t" as an Event would,
        # and short naps notice suspend/resume and clock steps that a single long sleep misses.
        while (remaining := (target - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(remaining, _MAX_LIVE_NAP))


class SimulatedClock:
    """A clock that moves only when told to (`advance`, `advance_to`).

    `sleep_until` parks the caller until the clock is advanced to or past its target; tasks
    woken by an advance run at the event loop's next turn.
    """

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        """Return the simulated instant."""
        return self._now

    async def sleep_until(self, t: datetime) -> None:
        """Wait until the clock has been advanced to `t` or later."""
        target = as_utc(t)
        if target <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (target, next(self._seq), future))
        await future

    def advance_to(self, t: datetime) -> None:
        """Move the clock to `t` and wake every sleeper due by then; never move backwards."""
        target = as_utc(t)
        if target < self._now:
            raise ValueError(f"cannot move the clock back from {self._now} to {target}")
        self._now = target
        while self._sleepers and self._sleepers[0][0] <= target:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta`."""
        if delta < timedelta(0):
            raise ValueError("cannot move the clock back")
        self.advance_to(self._now + delta)

    def next_wakeup(self) -> datetime | None:
        """Return the earliest instant a sleeper waits for, or None when nobody sleeps."""
        while self._sleepers and self._sleepers[0][2].done():  # drop cancelled sleepers
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None
