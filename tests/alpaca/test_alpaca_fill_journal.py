"""Fills reach the journal by one path, once per execution, whatever source delivers them.

Issue #13 A.5 and A.6, against the fake Alpaca through the real adapter and daemon.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from alpacakit import ACCOUNT, Daemons, Running, hold, make_settings, position
from fake_alpaca import FakeAlpaca, FillPolicy

from adapters.storage.records import IntentKind, IntentStatus, JournalRecord
from daemon.events import Scheduled

pytestmark = pytest.mark.timeout(60)


async def _harvest_order(fake: FakeAlpaca) -> str:
    """Quote the substitute, let VTI fall through its threshold; return the sale's client id."""
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.00", "50.04")
    await fake.publish_quote("VTI", "180.00", "180.04")
    await fake.wait_until(lambda: len(fake.orders) >= 1, what="the harvest order")
    return fake.orders[0].client_order_id


def _vti_sold(journal: list[JournalRecord]) -> Decimal:
    return sum(
        (
            r.quantity or Decimal(0)
            for r in journal
            if r.symbol == "VTI" and r.action is not None and r.action.value == "SELL"
        ),
        Decimal(0),
    )


async def _replacement_filled(fake: FakeAlpaca, running: Running) -> None:
    await fake.wait_until(
        lambda: len(fake.orders) == 2 and not fake.orders[1].is_open, what="the replacement"
    )
    await fake.wait_until(
        lambda: running.engine.ledger.position(ACCOUNT, "SCHB") == position(fake, "SCHB"),
        what="the replacement journaled",
    )


async def test_a_fill_whose_update_is_lost_on_a_live_stream_is_found_by_polling(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue #13 A.5: the broker fills the sale but its trade update never arrives, and the
    stream stays up. While the order is in flight the daemon looks it up every
    ``[orders] poll_seconds``: the fill is journaled and the replacement bought, with no
    reconnect in between."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.MANUAL, "VTI")
    settings = make_settings(fake, orders={"poll_seconds": 0.2})
    running = await daemons.start(settings=settings)
    cid = await _harvest_order(fake)

    fake.state.fill(fake.order(cid), None, Decimal("179.70"))  # filled; no event is sent

    await _replacement_filled(fake, running)
    assert running.broker.stats.resyncs == 0  # the stream never dropped
    assert _vti_sold(await running.journal()) == 40
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert (sale.status, sale.filled_quantity) == (IntentStatus.FILLED, 40)
    assert running.engine.halted == set()


async def test_an_execution_reported_with_disagreeing_cumulatives_is_journaled_once(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue #13 A.6: the sale fills in two executions (15, then 25). The stream's update
    for the first reports the order's filled quantity as it stood later (40), so it and the
    FILL activity (cum_qty 15) name that execution differently; the update of the second is
    lost. When the daemon learns the order is filled (after a reconnect), every source's
    fills go through the one journaling path: 40 shares are sold in the journal, not 55;
    nothing is halted and the replacement is bought."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.MANUAL, "VTI")
    running = await daemons.start()
    cid = await _harvest_order(fake)
    order = fake.order(cid)
    fake.state.fill(order, Decimal(15), Decimal("179.70"))
    fake.state.fill(order, Decimal(25), Decimal("179.60"))  # both silent so far
    await fake.send_trade_update(cid, "partial_fill", qty="15", price="179.7")
    await fake.wait_until(
        lambda: running.engine.ledger.position(ACCOUNT, "VTI") == 25,
        what="the first execution journaled from the stream",
    )

    assert await fake.drop_trading_stream() == 1  # the reconnect reconciles
    await _replacement_filled(fake, running)

    journal = await running.journal()
    assert _vti_sold(journal) == 40
    assert running.engine.ledger.position(ACCOUNT, "VTI") == 0
    assert running.engine.halted == set()
    assert await running.daemon.repo.active_halts() == []
    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert (sale.status, sale.filled_quantity) == (IntentStatus.FILLED, 40)

    assert running.daemon.reconciler is not None
    await running.daemon.reconciler.run("again")  # every source once more: nothing new
    assert await running.journal() == journal


async def test_reconciliation_runs_on_a_schedule_while_orders_are_in_flight(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue #9 §1 / #13 A.5: while an order is in flight, the daemon reconciles every
    ``[orders] reconcile_seconds`` with no reconnect: a holding the ledger does not explain,
    appearing mid-session, halts its symbol."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.MANUAL, "VTI")
    settings = make_settings(fake, orders={"poll_seconds": 0.1, "reconcile_seconds": 0.2})
    running = await daemons.start(settings=settings)
    await _harvest_order(fake)  # rests at the broker: an order in flight
    fake.set_position("ITOT", "7", "100")  # e.g. shares transferred in

    await fake.wait_until(lambda: "ITOT" in running.engine.halted, what="the scheduled pass")
    assert running.broker.stats.resyncs == 0
    assert [h.symbol for h in await running.daemon.repo.active_halts()] == ["ITOT"]


async def test_the_daily_hook_before_the_open_runs_a_full_reconciliation(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """README, "Schedule": reconciliation before the open. The ``daily_reconcile`` hook runs
    the daemon's full pass (positions, open orders, fills), not only a resume of orders: a
    holding the ledger does not explain is halted."""
    hold(fake, "VTI", "40", "200")
    running = await daemons.start()
    fake.set_position("ITOT", "7", "100")  # e.g. shares transferred in overnight

    running.engine.queue.put(Scheduled("daily_reconcile", date.today()))

    await fake.wait_until(lambda: "ITOT" in running.engine.halted, what="the daily pass")
    assert [h.symbol for h in await running.daemon.repo.active_halts()] == ["ITOT"]
