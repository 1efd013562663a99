"""The daily timetable: planned from the real session hours, run by APScheduler or a sim clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest
import structlog

from daemon.clock import LiveClock, SimulatedClock
from daemon.market_calendar import NEW_YORK, MarketCalendar
from daemon.scheduler import (
    PLANNER_JOB_ID,
    DaemonScheduler,
    HookTime,
    plan_day,
    replay,
)


@pytest.fixture(scope="module")
def nyse() -> MarketCalendar:
    """An NYSE calendar covering 2026."""
    return MarketCalendar(start=date(2025, 6, 1), end=date(2027, 6, 30))


class Recorder:
    """Hooks that record (hook, day) calls and can signal when one arrives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, date]] = []
        self.called = asyncio.Event()

    async def _record(self, name: str, day: date) -> None:
        self.calls.append((name, day))
        self.called.set()

    async def daily_reconcile(self, day: date) -> None:
        await self._record("daily_reconcile", day)

    async def wash_window_expiry(self, day: date) -> None:
        await self._record("wash_window_expiry", day)

    async def on_market_open(self, day: date) -> None:
        await self._record("on_market_open", day)

    async def swap_back_check(self, day: date) -> None:
        await self._record("swap_back_check", day)

    async def on_market_close(self, day: date) -> None:
        await self._record("on_market_close", day)

    async def end_of_day_summary(self, day: date) -> None:
        await self._record("end_of_day_summary", day)

    async def index_rebalance(self, day: date) -> None:
        await self._record("index_rebalance", day)


def _local_times(jobs: list) -> dict[str, time]:
    return {job.hook_name: job.run_at.astimezone(NEW_YORK).time() for job in jobs}


def test_plan_normal_day(nyse: MarketCalendar) -> None:
    """A regular session: hooks around 09:30 and 16:00 New York time, in time order."""
    jobs = plan_day(date(2026, 11, 24), nyse)

    assert [j.hook_name for j in jobs] == [
        "daily_reconcile",
        "wash_window_expiry",
        "on_market_open",
        "swap_back_check",
        "index_rebalance",
        "on_market_close",
        "end_of_day_summary",
    ]
    assert _local_times(jobs) == {
        "daily_reconcile": time(9, 0),
        "wash_window_expiry": time(9, 15),
        "on_market_open": time(9, 30),
        "swap_back_check": time(10, 0),
        "index_rebalance": time(15, 30),
        "on_market_close": time(16, 0),
        "end_of_day_summary": time(16, 15),
    }
    assert jobs[2].job_id == "on_market_open@2026-11-24"


def test_plan_holiday_is_empty(nyse: MarketCalendar) -> None:
    """Thanksgiving 2026-11-26: the market is closed, so nothing is planned."""
    assert plan_day(date(2026, 11, 26), nyse) == []


def test_plan_weekend_is_empty(nyse: MarketCalendar) -> None:
    """A Saturday plans nothing either."""
    assert plan_day(date(2026, 11, 28), nyse) == []


def test_plan_early_close(nyse: MarketCalendar) -> None:
    """2026-11-27 closes early: the close hook runs at 13:00 ET, the summary at 13:15."""
    times = _local_times(plan_day(date(2026, 11, 27), nyse))

    assert times["on_market_close"] == time(13, 0)
    assert times["end_of_day_summary"] == time(13, 15)
    assert times["on_market_open"] == time(9, 30)


def test_plan_across_dst_start(nyse: MarketCalendar) -> None:
    """Across 2026-03-08 (DST starts) the local times stay put and the UTC times shift."""
    before = {j.hook_name: j.run_at for j in plan_day(date(2026, 3, 6), nyse)}
    after = {j.hook_name: j.run_at for j in plan_day(date(2026, 3, 9), nyse)}

    assert before["on_market_open"].astimezone(UTC).time() == time(14, 30)  # EST
    assert after["on_market_open"].astimezone(UTC).time() == time(13, 30)  # EDT
    assert after["daily_reconcile"].astimezone(NEW_YORK).time() == time(9, 0)


def test_custom_timetable(nyse: MarketCalendar) -> None:
    """A timetable entry can be anchored before the close."""
    jobs = plan_day(
        date(2026, 11, 27),
        nyse,
        [HookTime("on_market_close", "close", timedelta(minutes=-15))],
    )

    assert _local_times(jobs) == {"on_market_close": time(12, 45)}


class SoonCalendar:
    """A calendar whose session today opens a moment from now and closes in an hour."""

    def __init__(self, opens_in: timedelta) -> None:
        now = datetime.now(UTC)
        self.today = now.astimezone(NEW_YORK).date()
        self.hours = (now + opens_in, now + timedelta(hours=1))

    def session_open_close(self, day: date) -> tuple[datetime, datetime] | None:
        return self.hours if day == self.today else None


async def test_apscheduler_fires_planned_hook() -> None:
    """DaemonScheduler on a real AsyncIOScheduler fires the open hook at its time; hooks
    more than the misfire grace in the past are not scheduled."""
    calendar = SoonCalendar(opens_in=timedelta(milliseconds=300))
    hooks = Recorder()
    daemon = DaemonScheduler(calendar, LiveClock(), hooks)

    planned = daemon.start()
    try:
        await asyncio.wait_for(hooks.called.wait(), timeout=5)
    finally:
        daemon.shutdown()
        await asyncio.sleep(0)  # let the scheduled shutdown run

    assert hooks.calls == [("on_market_open", calendar.today)]
    assert "daily_reconcile" not in {j.hook_name for j in planned}  # 30 min ago: skipped
    assert {"on_market_close", "end_of_day_summary"} <= {j.hook_name for j in planned}


async def test_apscheduler_job_defaults() -> None:
    """Jobs get a 300 s misfire grace, coalescing and one instance; the planner is cron."""
    daemon = DaemonScheduler(SoonCalendar(timedelta(hours=2)), LiveClock(), Recorder())

    daemon.start()
    try:
        job = daemon.scheduler.get_job(f"on_market_open@{SoonCalendar(timedelta()).today}")
        planner = daemon.scheduler.get_job(PLANNER_JOB_ID)
    finally:
        daemon.shutdown()
        await asyncio.sleep(0)

    assert job is not None
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (300, True, 1)
    assert planner is not None
    assert "hour='4'" in str(planner.trigger)


async def test_failing_hook_is_logged() -> None:
    """A hook that raises is reported as scheduler_job_failed, and the scheduler lives on."""

    class Failing(Recorder):
        async def on_market_open(self, day: date) -> None:
            self.called.set()
            raise RuntimeError("boom")

    hooks = Failing()
    daemon = DaemonScheduler(SoonCalendar(timedelta(milliseconds=100)), LiveClock(), hooks)

    with structlog.testing.capture_logs() as logs:
        daemon.start()
        try:
            await asyncio.wait_for(hooks.called.wait(), timeout=5)
            await asyncio.sleep(0.05)  # the error event follows the hook's failure
        finally:
            running = daemon.scheduler.running
            daemon.shutdown()
            await asyncio.sleep(0)

    failed = [e for e in logs if e["event"] == "scheduler_job_failed"]
    assert running
    assert failed
    assert failed[0]["job_id"].startswith("on_market_open@")


async def test_replay_on_simulated_clock(nyse: MarketCalendar) -> None:
    """replay() runs each session's hooks at their times on a simulated clock, skipping the
    Thanksgiving holiday and following the early close."""
    clock = SimulatedClock(datetime(2026, 11, 25, 0, 0, tzinfo=NEW_YORK))
    hooks = Recorder()
    seen: list[datetime] = []

    class Timed(Recorder):
        async def on_market_close(self, day: date) -> None:
            seen.append(clock.now())
            await hooks.on_market_close(day)

    ran = await replay(date(2026, 11, 25), date(2026, 11, 28), nyse, clock, Timed())

    assert {day for _, day in hooks.calls} == {date(2026, 11, 25), date(2026, 11, 27)}
    assert seen[-1] == datetime(2026, 11, 27, 13, 0, tzinfo=NEW_YORK)
    assert len(ran) == 14
