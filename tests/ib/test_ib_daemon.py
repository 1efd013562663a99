"""The real daemon harvests through the real IB adapter and ib_async, against the fake TWS.

Issue #9: the adapter plugs into exactly the core the Alpaca adapter uses (`build_daemon`,
the reconciliation, the order manager), built by the daemon's broker factory from ``broker =
"ib"`` and ``[ib]``: a crossing quote harvests and buys the replacement,
each fill journaled once with its commission, and a fill that happened while disconnected is
journaled exactly once after reconnecting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from decimal import Decimal
from typing import Any

import pytest
from fake_tws import FakeTWS, FillPolicy
from ibkit import ACCOUNT, Running, start_daemon, until

import daemon.settings
from adapters.storage.records import JournalRecord

pytestmark = pytest.mark.timeout(60)

Start = Callable[..., Coroutine[Any, Any, Running]]


@pytest.fixture(autouse=True)
def _ib_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the refusal of ``broker = "ib"`` (daemon.settings) for the test, as merging will."""
    monkeypatch.setattr(daemon.settings, "UNAVAILABLE_BROKERS", frozenset())


@pytest.fixture
async def daemons(tws: FakeTWS, sqlite_url: str) -> AsyncIterator[Start]:
    """Yield a starter of daemons over the fake on one SQLite file; all closed afterwards."""
    started: list[Running] = []

    async def start(**kwargs: Any) -> Running:
        running = await start_daemon(tws, sqlite_url, **kwargs)
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in reversed(started):
            await running.close()


def trades(journal: list[JournalRecord], symbol: str) -> list[JournalRecord]:
    return [r for r in journal if r.symbol == symbol and r.kind.value == "trade"]


async def test_a_crossing_quote_harvests_and_buys_the_replacement(
    tws: FakeTWS, daemons: Start
) -> None:
    """A falling VTI quote sells the losing lot; the proceeds buy SCHB; both fills journaled
    once, with IB's commission as fees, and the ledger matches the fake account."""
    running = await daemons(holdings={"VTI": ("40", "200")})
    engine = running.engine
    assert engine.ledger.position(ACCOUNT, "VTI") == 40
    await tws.wait_for_subscription("SCHB")
    await tws.publish_quote("SCHB", 50.0, 50.04)
    await tws.publish_quote("VTI", 180.0, 180.04)
    await tws.wait_until(lambda: len(tws.orders) == 2 and all(o.is_done for o in tws.orders))
    await until(lambda: engine.ledger.position(ACCOUNT, "SCHB") > 0)
    sell, buy = tws.orders
    assert (sell.instrument.symbol, sell.action, sell.qty, sell.order_type) == (
        "VTI",
        "SELL",
        40,
        "LMT",
    )
    assert sell.order_ref.startswith("tlh-hs-")
    assert (buy.instrument.symbol, buy.action, buy.order_ref[:7]) == ("SCHB", "BUY", "tlh-rb-")
    assert buy.qty == int(buy.qty)  # whole shares at IB
    journal = await running.daemon.repo.load_journal()
    [sold] = trades(journal, "VTI")
    assert sold.fees == tws.executions[0].commission
    assert engine.ledger.position(ACCOUNT, "VTI") == 0
    assert engine.ledger.position(ACCOUNT, "SCHB") == tws.positions()["SCHB"].qty
    assert engine.halted == set()


async def test_a_fill_while_disconnected_is_journaled_once_after_reconnecting(
    tws: FakeTWS, daemons: Start
) -> None:
    """The harvest order rests; TWS drops the connection; the order fills meanwhile; after
    the reconnect the resync imports the execution, once."""
    tws.set_fill_policy(FillPolicy(mode="hold"), symbol="VTI")
    running = await daemons(holdings={"VTI": ("40", "200")})
    await tws.wait_for_subscription("SCHB")
    await tws.publish_quote("SCHB", 50.0, 50.04)
    await tws.publish_quote("VTI", 180.0, 180.04)
    await tws.wait_until(lambda: len(tws.orders) == 1)
    await tws.go_down()
    await tws.fill(tws.orders[0].order_ref)
    await tws.come_up()
    engine = running.engine
    await until(lambda: engine.ledger.position(ACCOUNT, "VTI") == 0, within=15)
    await running.daemon.reconciler.run("test: read everything again")  # type: ignore[union-attr]
    journal = await running.daemon.repo.load_journal()
    assert [r.quantity for r in trades(journal, "VTI")] == [Decimal(40)]
    assert engine.halted == set()
