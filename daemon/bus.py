"""The engine's inbox: order events in arrival order, quotes conflated per symbol.

Order updates, fills and splits are never dropped and keep their order. Quotes are conflated:
only the latest quote of each symbol waits, so a slow consumer holds at most one quote per
symbol and never grows an unbounded queue.
"""

from __future__ import annotations

import asyncio
from collections import deque

from daemon.events import Event, Quote


class EventQueue:
    """A queue of events with per-symbol quote conflation; `put` never blocks."""

    def __init__(self) -> None:
        self._ordered: deque[Event] = deque()
        self._quotes: dict[str, Quote] = {}
        self._ready = asyncio.Event()
        self.conflated = 0

    def put(self, event: Event) -> None:
        """Add an event (from the event loop's thread)."""
        if isinstance(event, Quote):
            if event.symbol in self._quotes:
                self.conflated += 1
            self._quotes[event.symbol] = event
        else:
            self._ordered.append(event)
        self._ready.set()

    def __len__(self) -> int:
        return len(self._ordered) + len(self._quotes)

    def get_nowait(self) -> Event | None:
        """Return the next event, order events first, or None when empty."""
        if self._ordered:
            return self._ordered.popleft()
        if self._quotes:
            symbol = next(iter(self._quotes))
            return self._quotes.pop(symbol)
        self._ready.clear()
        return None

    async def ready(self) -> None:
        """Wait until an event may be queued (returns at once if one is)."""
        if self._ordered or self._quotes:
            return
        await self._ready.wait()

    def wake(self) -> None:
        """Wake whoever waits in `ready` or `get` without an event (they find none and go on
        waiting, unless what they wait for besides events has happened)."""
        self._ready.set()

    async def get(self) -> Event:
        """Wait for and return the next event."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            await self._ready.wait()
