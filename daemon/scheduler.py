"""The daemon's daily timetable, anchored to the real open and close of each session.

Cron alone knows nothing of holidays or early closes, so one morning job asks the calendar for
the day's actual open and close and adds one-shot ``date`` jobs relative to them: a holiday
gets no hooks, and on an early close (13:00 New York time) the close hooks move with it.
`plan_day` is the pure planning step; `DaemonScheduler` runs the plan on APScheduler 3.x in
live and paper modes; `replay_day` (and `replay`) run the very same plan on a `SimulatedClock`
for backtests, the demo and `tlh run` with `[sim] replay`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, NamedTuple, Protocol

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from daemon.clock import Clock, SimulatedClock
from daemon.market_calendar import NEW_YORK

HookName = Literal[
    "daily_reconcile",
    "wash_window_expiry",
    "on_market_open",
    "swap_back_check",
    "on_market_close",
    "end_of_day_summary",
    "index_rebalance",
]

PLANNER_JOB_ID = "plan_day"
DEFAULT_MISFIRE_GRACE_SECONDS = 300

log = structlog.stdlib.get_logger(__name__)


class DaemonHooks(Protocol):
    """What the scheduler calls; each hook gets the session date and should be idempotent."""

    async def daily_reconcile(self, day: date) -> None:
        """Reconcile the ledger with the broker before the open."""
        ...

    async def wash_window_expiry(self, day: date) -> None:
        """Release the wash-sale locks whose 30-day windows have ended."""
        ...

    async def on_market_open(self, day: date) -> None:
        """Start trading for the session."""
        ...

    async def swap_back_check(self, day: date) -> None:
        """Consider swapping substitutes back to the original holdings."""
        ...

    async def on_market_close(self, day: date) -> None:
        """Stop trading for the session."""
        ...

    async def end_of_day_summary(self, day: date) -> None:
        """Publish the day's summary."""
        ...

    async def index_rebalance(self, day: date) -> None:
        """Invest new cash and rebalance a direct index toward its target (`[index]`)."""
        ...


class SessionCalendar(Protocol):
    """The part of `MarketCalendar` that planning needs."""

    def session_open_close(self, day: date) -> tuple[datetime, datetime] | None:
        """Return the session's open and close (UTC), or None when the market is closed."""
        ...


@dataclass(frozen=True, slots=True)
class HookTime:
    """When a hook runs: `offset` after the session's `anchor` (negative means before)."""

    hook: HookName
    anchor: Literal["open", "close"]
    offset: timedelta = timedelta(0)


DEFAULT_TIMETABLE: tuple[HookTime, ...] = (
    HookTime("daily_reconcile", "open", timedelta(minutes=-30)),
    HookTime("wash_window_expiry", "open", timedelta(minutes=-15)),
    HookTime("on_market_open", "open"),
    HookTime("swap_back_check", "open", timedelta(minutes=30)),
    HookTime("index_rebalance", "close", timedelta(minutes=-30)),
    HookTime("on_market_close", "close"),
    HookTime("end_of_day_summary", "close", timedelta(minutes=15)),
)


class PlannedJob(NamedTuple):
    """One hook call planned for one session."""

    job_id: str
    run_at: datetime
    hook_name: HookName


def plan_day(
    day: date,
    calendar: SessionCalendar,
    timetable: Sequence[HookTime] = DEFAULT_TIMETABLE,
) -> list[PlannedJob]:
    """Return the hook calls for `day` in time order (none when the market is closed).

    `run_at` is in New York time; `job_id` is ``"<hook>@<day>"``, stable across restarts.
    """
    hours = calendar.session_open_close(day)
    if hours is None:
        return []
    anchors = {"open": hours[0], "close": hours[1]}
    jobs = [
        PlannedJob(
            job_id=f"{entry.hook}@{day.isoformat()}",
            run_at=(anchors[entry.anchor] + entry.offset).astimezone(NEW_YORK),
            hook_name=entry.hook,
        )
        for entry in timetable
    ]
    return sorted(jobs, key=lambda job: job.run_at)


class DaemonScheduler:
    """Run the daily timetable on an APScheduler 3.x `AsyncIOScheduler` (wall-clock time).

    A cron job at `planner_at` (New York time) plans each day; `start` also plans the current
    day at once. Hooks due more than `misfire_grace_seconds` ago are not scheduled (a daemon
    started mid-session does its own start-up reconcile), nor run late by more than that.
    """

    def __init__(
        self,
        calendar: SessionCalendar,
        clock: Clock,
        hooks: DaemonHooks,
        *,
        timetable: Sequence[HookTime] = DEFAULT_TIMETABLE,
        planner_at: time = time(4, 0),
        misfire_grace_seconds: int = DEFAULT_MISFIRE_GRACE_SECONDS,
    ) -> None:
        self._calendar = calendar
        self._clock = clock
        self._hooks = hooks
        self._timetable = tuple(timetable)
        self._planner_at = planner_at
        self._grace = timedelta(seconds=misfire_grace_seconds)
        self.scheduler = AsyncIOScheduler(
            timezone=NEW_YORK,
            job_defaults={
                "misfire_grace_time": misfire_grace_seconds,
                "coalesce": True,
                "max_instances": 1,
            },
        )
        self.scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)

    def start(self) -> list[PlannedJob]:
        """Start the scheduler (inside the running loop), add the planner, plan today."""
        self.scheduler.start()
        self.scheduler.add_job(
            self._plan_today,
            CronTrigger(
                hour=self._planner_at.hour, minute=self._planner_at.minute, timezone=NEW_YORK
            ),
            id=PLANNER_JOB_ID,
            name=PLANNER_JOB_ID,
            replace_existing=True,
        )
        return self.plan(self._today())

    def shutdown(self) -> None:
        """Stop the scheduler without waiting for running hooks."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def plan(self, day: date) -> list[PlannedJob]:
        """Schedule `day`'s hooks that are not yet past; return the ones scheduled."""
        cutoff = self._clock.now() - self._grace
        scheduled = []
        for job in plan_day(day, self._calendar, self._timetable):
            if job.run_at <= cutoff:
                log.debug("scheduler_hook_skipped_past", job_id=job.job_id, run_at=job.run_at)
                continue
            self.scheduler.add_job(
                self._run_hook,
                DateTrigger(run_date=job.run_at, timezone=NEW_YORK),
                args=(job.hook_name, day),
                id=job.job_id,
                name=job.job_id,
                replace_existing=True,
            )
            scheduled.append(job)
        log.info("scheduler_day_planned", day=day.isoformat(), jobs=[j.job_id for j in scheduled])
        return scheduled

    async def _plan_today(self) -> None:
        self.plan(self._today())

    async def _run_hook(self, hook_name: HookName, day: date) -> None:
        with structlog.contextvars.bound_contextvars(hook=hook_name, session=day.isoformat()):
            await getattr(self._hooks, hook_name)(day)

    def _today(self) -> date:
        return self._clock.now().astimezone(NEW_YORK).date()

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning(
                "scheduler_job_missed",
                job_id=event.job_id,
                scheduled_run_time=event.scheduled_run_time,
            )
        else:
            log.error(
                "scheduler_job_failed",
                job_id=event.job_id,
                scheduled_run_time=event.scheduled_run_time,
                exc_info=event.exception,
            )


SessionStep = Callable[[], Awaitable[None]]
"""What a replayed session does at its open or close besides the hooks (splits, bars)."""


async def replay_day(
    day: date,
    calendar: SessionCalendar,
    clock: SimulatedClock,
    hooks: DaemonHooks,
    timetable: Sequence[HookTime] = DEFAULT_TIMETABLE,
    *,
    at_open: SessionStep | None = None,
    at_close: SessionStep | None = None,
) -> list[PlannedJob]:
    """Run `day`'s timetable (`plan_day`) on a simulated clock; return the jobs that ran.

    The clock is advanced to each hook's time before the hook is awaited; hooks already in
    the clock's past are skipped. `at_open` runs at the open instant and `at_close` at the
    close instant, each before the hooks due at that instant: a replay applies the day's
    splits at the open (as a broker does before trading) and delivers the day's bars at the
    close, before `on_market_close`.
    """
    hours = calendar.session_open_close(day)
    if hours is None:
        return []
    steps: list[tuple[datetime, int, PlannedJob | SessionStep]] = [
        (job.run_at, 1, job) for job in plan_day(day, calendar, timetable)
    ]
    if at_open is not None:
        steps.append((hours[0], 0, at_open))
    if at_close is not None:
        steps.append((hours[1], 0, at_close))
    steps.sort(key=lambda step: (step[0], step[1]))  # stable: the plan's order within a rank
    ran: list[PlannedJob] = []
    for run_at, _, step in steps:
        if run_at < clock.now():
            continue
        clock.advance_to(run_at)
        if isinstance(step, PlannedJob):
            await getattr(hooks, step.hook_name)(day)
            ran.append(step)
        else:
            await step()
    return ran


async def replay(
    start: date,
    end: date,
    calendar: SessionCalendar,
    clock: SimulatedClock,
    hooks: DaemonHooks,
    timetable: Sequence[HookTime] = DEFAULT_TIMETABLE,
) -> list[PlannedJob]:
    """Run the timetable from `start` to `end` (inclusive) on a simulated clock
    (`replay_day` for each day). Return the jobs that ran."""
    ran: list[PlannedJob] = []
    day = start
    while day <= end:
        ran += await replay_day(day, calendar, clock, hooks, timetable)
        day += timedelta(days=1)
    return ran
