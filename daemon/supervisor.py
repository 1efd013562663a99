"""Liveness: prove the engine still consumes events, for systemd's watchdog and Docker.

Every interval the supervisor queues a `ClockTick` and checks that the previous one was
handled. Only then does it ping systemd (`WATCHDOG=1`) and touch the health file; a stuck
consumer stops both, so systemd restarts the service (crash-only) and Docker marks the
container unhealthy. It also checks that the process still holds the journal lock (see
`adapters.storage.journal_lock`); a lost lock stops the daemon with `JournalLockLostError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from adapters.storage.journal_lock import JournalLock, JournalLockLostError
from daemon.engine import HarvestEngine
from daemon.events import ClockTick
from daemon.sdnotify import notify

log = structlog.get_logger("tlh.supervisor")


@dataclass(slots=True)
class Verdict:
    """The supervisor's latest check, for `/healthz` (`daemon.daemon_view`).

    `healthy`: the engine handled the tick queued one interval before `checked_at` (or the
    check was the first); `checked_at`: when the supervisor last checked (None: not yet), on
    the supervisor's clock, and `checked_monotonic` the same on `time.monotonic()` (the
    daemon's clock may be a replay's).
    """

    interval: float
    healthy: bool = False
    checked_at: datetime | None = None
    checked_monotonic: float | None = None
    last_tick: datetime | None = None


async def supervise(
    engine: HarvestEngine,
    now: Callable[[], datetime],
    *,
    interval: float,
    health_file: Path | None = None,
    stop: asyncio.Event,
    lock: JournalLock | None = None,
    verdict: Verdict | None = None,
) -> None:
    """Ping the watchdog and touch `health_file` while the engine keeps up, until `stop`;
    keep each check's outcome in `verdict`.

    Set `stop` and raise `JournalLockLostError` when `lock` is lost.
    """
    sent: datetime | None = None
    while not stop.is_set():
        if lock is not None:
            try:
                await lock.verify()
            except JournalLockLostError as exc:
                log.error("journal_lock_lost", error=str(exc))
                notify("STATUS=stopping: the journal lock was lost")
                stop.set()
                raise
        healthy = sent is None or engine.last_tick == sent
        if verdict is not None:
            verdict.healthy, verdict.last_tick = healthy, engine.last_tick
            verdict.checked_at, verdict.checked_monotonic = now(), time.monotonic()
        if healthy:
            notify(
                "WATCHDOG=1",
                f"STATUS=running: {engine.stats.harvests} harvests, "
                f"{len(engine.orders.open_intents)} orders in flight",
            )
            if health_file is not None:
                await asyncio.to_thread(health_file.write_text, now().isoformat())
        else:
            log.error(
                "engine_unresponsive", last_tick=str(engine.last_tick), queued=len(engine.queue)
            )
            notify("STATUS=degraded: the engine stopped consuming events")
        sent = now()
        engine.queue.put(ClockTick(sent))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
