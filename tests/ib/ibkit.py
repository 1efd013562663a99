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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from fake_tws import DEFAULT_ACCOUNT, FakeTWS

from adapters.base import BrokerOptions
from adapters.ib.broker import IBBroker
from adapters.ib.settings import IBSettings
from adapters.storage.records import JournalEntry, JournalKind
from daemon.app import Daemon, build_daemon
from daemon.brokers import build_broker
from daemon.engine import HarvestEngine
from daemon.events import Event, Fill, OrderUpdate, Quote
from daemon.settings import Settings
from ledger.model import Action

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
    """Return the adapter as the daemon's factory builds it, with test timings."""
    return IBBroker.from_settings(
        ib_settings(tws, **(settings or {})), options, **{**FAST, **overrides}
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


def daemon_settings(tws: FakeTWS, **overrides: Any) -> Settings:
    """Return paper-mode daemon settings on the IB broker pointed at `tws`: VTI -> SCHB ->
    ITOT substitutes, the IB account taxable, reconnect attempts at most a second apart.

    ``broker = "ib"`` is refused by `daemon.settings` until the adapter is merged: callers
    lift `UNAVAILABLE_BROKERS` for the test's duration, as the merge will.
    """
    base: dict[str, Any] = {
        "mode": "paper",
        "broker": "ib",
        "ib": ib_settings(tws, reconnect_max_seconds=1.0).model_dump(),
        "substitutes": [{"symbols": ["VTI", "SCHB", "ITOT"]}],
        "accounts": {ACCOUNT: "taxable"},
        # Each test quote is meant as it is: no confirming quotes (tests/quote_filter has those).
        "prices": {"confirm_quotes": 0},
    }
    return Settings(**{**base, **overrides})


@dataclass
class Running:
    """A started daemon over the IB adapter, with its `engine.run` task."""

    daemon: Daemon
    broker: IBBroker
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def engine(self) -> HarvestEngine:
        """The harvest engine."""
        return self.daemon.engine

    async def close(self) -> None:
        """Stop the daemon gracefully (idempotent)."""
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)
            self.task = None
            await self.daemon.close()


async def start_daemon(tws: FakeTWS, url: str, holdings: dict[str, tuple[str, str]]) -> Running:
    """Build and start the daemon on `url` as `tlh run` does: the broker from the factory
    (`daemon.brokers.build_broker`), then `build_daemon`, `engine.start()` and `engine.run`;
    before the start, `holdings` ({symbol: (quantity, price)}) are journaled as lots bought
    long ago (older trades reach the journal by import: ``reqExecutions`` covers today only)
    and the fake account is given the same positions."""
    settings = daemon_settings(tws)
    broker = build_broker(settings)
    assert isinstance(broker, IBBroker)
    daemon = await build_daemon(settings, broker, lambda: datetime.now(UTC), database_url=url)
    entries = []
    for symbol, (quantity, price) in holdings.items():
        tws.set_position(symbol, quantity, price)
        entries.append(
            JournalEntry.trade(
                account=ACCOUNT,
                action=Action.BUY,
                symbol=symbol,
                quantity=Decimal(quantity),
                price=Decimal(price),
                trade_date=LONG_AGO.date(),
                occurred_at=LONG_AGO,
                source="test:import",
                external_id=f"test:{symbol}",
                kind=JournalKind.IMPORT,
            )
        )
    await daemon.repo.append_journal(entries)
    running = Running(daemon=daemon, broker=broker)
    await daemon.engine.start()
    running.task = asyncio.create_task(daemon.engine.run(running.stop), name="tlh-engine")
    return running
