"""Clocks: the live clock is UTC-aware; the simulated one moves only when advanced."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.clock import LiveClock, SimulatedClock

T0 = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)


def test_live_clock_is_aware_utc() -> None:
    """LiveClock.now() is timezone-aware UTC."""
    assert LiveClock().now().tzinfo is UTC


async def test_live_clock_sleep_until_past_returns_at_once() -> None:
    """Sleeping until an instant already past returns without waiting."""
    clock = LiveClock()

    await asyncio.wait_for(clock.sleep_until(clock.now() - timedelta(hours=1)), timeout=1)


async def test_live_clock_sleeps_until_the_instant() -> None:
    """LiveClock.sleep_until returns once the wall clock reaches the target."""
    clock = LiveClock()
    target = clock.now() + timedelta(milliseconds=50)

    await asyncio.wait_for(clock.sleep_until(target), timeout=2)

    assert clock.now() >= target


async def test_simulated_sleep_returns_when_advanced_past_target() -> None:
    """A sleeper wakes only once the clock is advanced to or past its target."""
    clock = SimulatedClock(T0)
    sleeper = asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=10)))
    await asyncio.sleep(0)

    clock.advance(timedelta(minutes=9))
    await asyncio.sleep(0)
    assert not sleeper.done()

    clock.advance(timedelta(minutes=2))
    await asyncio.wait_for(sleeper, timeout=1)
    assert clock.now() == T0 + timedelta(minutes=11)


async def test_simulated_clock_reports_next_wakeup() -> None:
    """next_wakeup() is the earliest pending target, so a driver can jump straight to it."""
    clock = SimulatedClock(T0)
    tasks = [asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=m))) for m in (30, 5)]
    await asyncio.sleep(0)

    assert clock.next_wakeup() == T0 + timedelta(minutes=5)
    clock.advance_to(T0 + timedelta(hours=1))
    await asyncio.gather(*tasks)
    assert clock.next_wakeup() is None


def test_simulated_clock_converts_to_utc() -> None:
    """Any aware start time is stored as UTC."""
    ny = datetime(2026, 3, 9, 9, 0, tzinfo=ZoneInfo("America/New_York"))

    assert SimulatedClock(ny).now() == T0
    assert SimulatedClock(ny).now().tzinfo is UTC


def test_simulated_clock_rejects_naive_and_backwards() -> None:
    """Naive datetimes are ambiguous and time never runs backwards."""
    with pytest.raises(ValueError, match="naive"):
        SimulatedClock(datetime(2026, 1, 2, 9, 30))
    clock = SimulatedClock(T0)
    with pytest.raises(ValueError, match="back"):
        clock.advance_to(T0 - timedelta(seconds=1))
