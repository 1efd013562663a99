"""The engine holds harvesting while a symbol's quotes are suspect (issue: price sanity)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.sim.broker import SimBroker
from daemon.app import Daemon, build_daemon
from daemon.events import Quote
from daemon.settings import Settings, SubstituteGroup
from ledger.model import Action, Trade

START = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


class Harness:
    """The daemon and the clock the test moves."""

    def __init__(self, d: Daemon, clock: dict[str, datetime]) -> None:
        self.engine, self.broker, self.clock = d.engine, d.broker, clock


@pytest.fixture
async def daemon(sqlite_url: str):
    clock = {"now": START}
    settings = Settings(substitutes=(SubstituteGroup(symbols=("VTI", "SCHB")),))
    d = await build_daemon(
        settings,
        SimBroker(lambda: clock["now"]),
        lambda: clock["now"],
        database_url=sqlite_url,
    )
    await d.engine.start()
    await d.engine.import_trades(
        [Trade(1, date(2024, 1, 2), "taxable", Action.BUY, "VTI", Decimal(30), Decimal(250))],
        source="test",
    )
    yield Harness(d, clock)
    await d.close()


async def feed(d, symbol: str, bid: float, seconds: int) -> None:
    d.clock["now"] = START + timedelta(seconds=seconds)
    await d.engine.handle(Quote(symbol, bid, round(bid + 0.02, 2), d.clock["now"]))
    await d.engine.handle(Quote("SCHB", 60.0, 60.02, d.clock["now"]))
    await d.engine.drain()


async def test_a_lone_spike_below_the_trigger_does_not_harvest(daemon) -> None:
    """One bad tick far below the market is never traded on (issue: single-tick outliers)."""
    for i in range(10):
        await feed(daemon, "VTI", 249.0, i)
    await feed(daemon, "VTI", 200.0, 10)
    for i in range(11, 20):
        await feed(daemon, "VTI", 249.0, i)
    assert daemon.engine.stats.harvests == 0
    assert daemon.broker.submissions == 0


async def test_a_confirmed_fall_below_the_trigger_harvests(daemon) -> None:
    """A move confirmed by consecutive consistent ticks is real and gets harvested."""
    for i in range(10):
        await feed(daemon, "VTI", 249.0, i)
    for i in range(10, 20):
        await feed(daemon, "VTI", 220.0, i)
    assert daemon.engine.stats.harvests == 1
    assert daemon.engine.stats.suspect_quotes >= 1


async def test_a_stale_quote_does_not_harvest(daemon) -> None:
    """A quote older than stale_after_seconds is ignored (issue: stale quotes)."""
    for i in range(5):
        await feed(daemon, "VTI", 221.0, i)
    daemon.engine.stats.harvests = 0
    old = START - timedelta(hours=1)
    daemon.clock["now"] = START + timedelta(seconds=30)
    before = daemon.broker.submissions
    assert not daemon.engine.on_quote(Quote("VTI", 210.0, 210.02, old))
    assert daemon.broker.submissions == before
