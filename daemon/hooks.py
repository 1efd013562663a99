"""The scheduler's daily hooks, delivered to the engine as events.

Each hook becomes a `Scheduled` event for the engine, so it runs in the single consumer
between other events and never races the order manager: live, on the engine's queue
(`EngineHooks`); in a replay, through the replay's feed (`daemon.replay.FeedHooks`).
"""

from __future__ import annotations

from datetime import date

from daemon.engine import HarvestEngine
from daemon.events import Scheduled


class ScheduledHooks:
    """Implement `daemon.scheduler.DaemonHooks` by delivering each hook as a `Scheduled`
    event (`deliver`, which subclasses define)."""

    async def deliver(self, event: Scheduled) -> None:
        """Hand `event` to the engine."""
        raise NotImplementedError

    async def daily_reconcile(self, day: date) -> None:
        """Deliver the daily reconciliation of open orders with the broker."""
        await self.deliver(Scheduled("daily_reconcile", day))

    async def wash_window_expiry(self, day: date) -> None:
        """Deliver the morning re-check of positions whose wash-sale window may have closed."""
        await self.deliver(Scheduled("wash_window_expiry", day))

    async def on_market_open(self, day: date) -> None:
        """Deliver the market-open hook."""
        await self.deliver(Scheduled("on_market_open", day))

    async def swap_back_check(self, day: date) -> None:
        """Deliver the swap-back check."""
        await self.deliver(Scheduled("swap_back_check", day))

    async def on_market_close(self, day: date) -> None:
        """Deliver the market-close hook."""
        await self.deliver(Scheduled("on_market_close", day))

    async def end_of_day_summary(self, day: date) -> None:
        """Deliver the end-of-day summary."""
        await self.deliver(Scheduled("end_of_day_summary", day))

    async def index_rebalance(self, day: date) -> None:
        """Deliver the direct index's rebalance (a no-op without `[index]`)."""
        await self.deliver(Scheduled("index_rebalance", day))


class EngineHooks(ScheduledHooks):
    """Queue each hook on the engine's queue (the live daemon's scheduler)."""

    def __init__(self, engine: HarvestEngine) -> None:
        self._engine = engine

    async def deliver(self, event: Scheduled) -> None:
        """Queue `event` for the engine's `run` loop."""
        self._engine.queue.put(event)
