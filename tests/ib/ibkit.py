"""The real IB adapter, over the real ib_async, connected to the protocol-level fake TWS.

Nothing of ours is mocked: `make_broker` builds `IBBroker.from_settings` from an `[ib]`
section pointing at a `FakeTWS` on 127.0.0.1 (tests/fake_tws); only its timings (reconnect
backoff, request timeout, commission wait) are shortened so that faults show within a test's
time. `Events` is the sink the daemon would give: it records what the adapter emits, and tests
wait on conditions over it, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fake_tws import DEFAULT_ACCOUNT, FakeTWS

from adapters.base import BrokerOptions
from adapters.ib.broker import IBBroker
from adapters.ib.settings import IBSettings
from daemon.events import Event, Fill, OrderUpdate, Quote

E = TypeVar("E")
ACCOUNT = DEFAULT_ACCOUNT
PAPER = BrokerOptions(orders_allowed=True, live=False, stale_after_seconds=60.0)
FAST: dict[str, Any] = {"backoff": (0.05, 0.2), "request_timeout": 3.0, "commission_wait": 1.0}


def ib_settings(tws: FakeTWS, **fields: Any) -> IBSettings:
    """Return an `[ib]` section pointing at `tws`."""
    base: dict[str, Any] = {
        "host": tws.host,
        "port": tws.port,
        "client_id": 17,
        "account": ACCOUNT,
        "timeout_seconds": 3.0,
    }
    return IBSettings(**{**base, **fields})


def make_broker(
    tws: FakeTWS,
    options: BrokerOptions = PAPER,
    *,
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> IBBroker:
    """Return the adapter as the daemon's factory builds it, with test timings, on the
    fake's clock (as a real TWS and its host share one)."""
    return IBBroker.from_settings(
        ib_settings(tws, **(settings or {})), options, **{"now": tws.now, **FAST, **overrides}
    )


class Events:
    """The event sink: every event the adapter emitted, in order, and a way to wait on them."""

    def __init__(self) -> None:
        self.all: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.all.append(event)
        self._changed.set()

    def of(self, kind: type[E]) -> list[E]:
        """Return the events of one type."""
        return [e for e in self.all if isinstance(e, kind)]

    @property
    def quotes(self) -> list[Quote]:
        """Return the quotes emitted."""
        return self.of(Quote)

    @property
    def fills(self) -> list[Fill]:
        """Return the fills emitted."""
        return self.of(Fill)

    @property
    def updates(self) -> list[OrderUpdate]:
        """Return the order updates emitted."""
        return self.of(OrderUpdate)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `predicate()` holds (checked after every event)."""
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until `predicate()` holds, checking every 10 ms: for adapter state that no event
    announces (a refused reconnect attempt, the link flag after an error code)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - nothing to wait on but the state itself
            await asyncio.sleep(0.01)


class Resyncs:
    """The daemon's resync handler: records each reason it is called with."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def __call__(self, reason: str) -> None:
        self.reasons.append(reason)


LONG_AGO = datetime(2023, 1, 3, 15, 0, tzinfo=UTC)
"""When the starting lots were bought: long-term, far outside any wash-sale window."""
