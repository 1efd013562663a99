"""The scheduler's daily hooks, delivered to the engine as events.

Each hook becomes a `Scheduled` event on the engine's queue, so it runs in the single consumer
between other events and never races the order manager.
"""

from __future__ import annotations

from datetime import date

from daemon.engine import HarvestEngine
from daemon.events import Scheduled


class EngineHooks:
    """Implement `daemon.scheduler.DaemonHooks` by queueing `Scheduled` events."""

    def __init__(self, engine: HarvestEngine) -> None:
        self._engine = engine

    def _queue(self, hook: str, day: date) -> None:
        self._engine.queue.put(Scheduled(hook, day))

    async def daily_reconcile(self, day: date) -> None:
        """Queue the daily reconciliation of open orders with the broker."""
        self._queue("daily_reconcile", day)

    async def wash_window_expiry(self, day: date) -> None:
        """Queue the morning re-check of positions whose wash-sale window may have closed."""
        self._queue("wash_window_expiry", day)

    async def on_market_open(self, day: date) -> None:
        """Queue the market-open hook."""
        self._queue("on_market_open", day)

    async def swap_back_check(self, day: date) -> None:
        """Queue the swap-back check."""
        self._queue("swap_back_check", day)

    async def on_market_close(self, day: date) -> None:
        """Queue the market-close hook."""
        self._queue("on_market_close", day)

    async def end_of_day_summary(self, day: date) -> None:
        """Queue the end-of-day summary."""
        self._queue("end_of_day_summary", day)

    async def index_rebalance(self, day: date) -> None:
        """Queue the direct index's rebalance (a no-op without `[index]`)."""
        self._queue("index_rebalance", day)
