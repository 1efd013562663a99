"""Crash-only: startup is recovery, and the journal is the source of truth (on both backends).

Household: 40 VTI bought long ago at $200 (trigger near $190); substitutes VTI -> SCHB -> ITOT.
Each test stops a daemon and starts a new one on the same database and the same broker.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from daemonkit import IRA, TAXABLE, Rig, Rigs, make_settings

from adapters.base import BrokerError
from adapters.storage.records import IntentStatus, JournalKind
from daemon.events import Quote, SplitEvent
from ledger.model import Action


async def _quote_the_awaited_replacement(rig: Rig) -> None:
    """The restarted daemon waits for a SCHB quote, so it must have asked the broker for SCHB
    quotes (though it holds nothing of SCHB's group now); then SCHB is quoted."""
    assert rig.orders.awaiting_quotes == {"SCHB"}
    assert "SCHB" in rig.broker.subscribed
    await rig.quote("SCHB", 50.00)


async def _assert_recovered_once(rig: Rig, lot: str) -> None:
    """The sale is journaled once, its replacement is placed once, nothing is sold twice."""
    sale_id = rig.harvest_id("VTI", lot)
    sale = await rig.intent(sale_id)
    assert (sale.status, sale.filled_quantity) == (IntentStatus.FILLED, Decimal(40))
    assert sale.filled_notional == Decimal("7200.00")
    buys = await rig.buys_of(sale_id)  # the replacement and the top-up of what it left
    assert [(b.symbol, b.status) for b in buys] == [("SCHB", IntentStatus.FILLED)] * 2
    fills = await rig.fills()
    assert [(f.action, f.symbol) for f in fills] == [(Action.SELL, "VTI")] + [
        (Action.BUY, "SCHB")
    ] * 2
    assert fills[0].lot_id == lot
    assert rig.broker.submissions == 3  # one sale, one replacement, one top-up
    bought = sum((b.quantity for b in buys), Decimal(0))
    assert sum((x.quantity for x in rig.ledger.open_lots()), Decimal(0)) == bought
    assert (await rig.broker.positions()) == {(TAXABLE, "SCHB"): bought}


async def test_a_sale_filled_while_the_daemon_was_down_is_recovered_on_start(
    rigs: Rigs, db_url: str
) -> None:
    """Issue: "Crash between sale and replacement: ... the sale's fill is recovered into the
    journal exactly once, the replacement is placed, no duplicate sell." Orders docstring:
    "`resume()` is both startup and recovery. It walks every open intent, asks the broker about
    its client order id before (re)submitting anything, and creates the replacement of a sale
    that finished while the daemon was down."

    The harvest sale reaches the broker, the daemon stops before any of its events arrive, and
    the sale fills at the broker meanwhile (its events go nowhere). A new daemon on the same
    database and broker journals that fill exactly once, does not sell again, and buys the
    replacement as soon as it has a quote for it."""
    rig = await rigs.open(db_url)
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await rig.engine.handle(Quote("VTI", 180.00, 180.04, rig.clock.now()))  # no market yet
    sale_id = rig.harvest_id("VTI", lot)
    assert (await rig.intent(sale_id)).status is IntentStatus.ACCEPTED
    await rig.close()  # crash: the queued broker events are never handled
    rig.advance(minutes=1)
    rig.market("VTI", 180.00)
    rig.broker.fill_open_orders()  # the sale fills at the broker while we are down
    rig.advance(minutes=1)

    rig = await rigs.restart(rig)
    await _quote_the_awaited_replacement(rig)

    await _assert_recovered_once(rig, lot)


async def test_a_crash_between_sale_and_replacement_places_the_replacement_on_start(
    rigs: Rigs, db_url: str
) -> None:
    """Issue: "Crash between sale and replacement: ... the sale's fill is recovered into the
    journal exactly once, the replacement is placed, no duplicate sell."

    The sale fills as it is submitted, and the daemon stops before draining the broker's
    events. Restarted on the same
    database and broker, it subscribes to SCHB (though it now holds nothing of that group),
    places the replacement once SCHB is quoted, and has the sale's fill in the journal exactly
    once."""
    rig = await rigs.open(db_url)
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)  # the restarted daemon will not have seen it
    quote = rig.market("VTI", 180.00)
    # Once the sale is sent, the feed goes quiet: the replacement must wait for a quote.
    rig.broker.after_submit = lambda order: rig.broker.stale_feed.update({"SCHB", "ITOT"})
    await rig.engine.handle(quote)  # the sale is submitted and fills; no drain
    assert len(rig.engine.queue) > 0
    assert await rig.repo.finished_harvests_without_replacement() != []
    await rig.close()
    rig.broker.after_submit = lambda order: None
    rig.broker.stale_feed.clear()
    rig.advance(minutes=1)

    rig = await rigs.restart(rig)
    await _quote_the_awaited_replacement(rig)

    await _assert_recovered_once(rig, lot)


async def test_the_ledger_rebuilt_from_the_journal_equals_the_one_kept_in_memory(
    rigs: Rigs, db_url: str
) -> None:
    """Issue: "Ledger rebuilt from the journal on start equals the one that was kept in memory
    (open lots and sales identical)" -- wash-sale adjustments, a split and the daemon's own
    harvest included."""
    rig = await rigs.open(
        db_url,
        settings=make_settings(
            substitutes=[
                {"symbols": ["VTI", "SCHB", "ITOT"]},
                {"symbols": ["VEA", "IEFA"]},
                {"symbols": ["QQQ", "ONEQ"]},
            ]
        ),
    )
    today = rig.today()
    vti = await rig.hold("VTI", "40", "200")
    await rig.hold("VEA", "100", "50")
    await rig.hold("VTI", "3", "150", account=IRA)
    # A loss sale washed by a purchase in the IRA (Rev. Rul. 2008-5: permanently disallowed),
    # and one washed by a taxable purchase (the loss moves into the replacement's basis).
    await rig.hold("QQQ", "10", "400")
    await rig.record(Action.SELL, "QQQ", "10", "350", day=today - timedelta(days=20))
    await rig.record(Action.BUY, "QQQ", "5", "360", account=IRA, day=today - timedelta(days=15))
    await rig.record(
        Action.BUY, "QQQ", "5", "355", day=today - timedelta(days=14), lot_id="QQQ-replacement"
    )
    await rig.quote("SCHB", 50.00)
    await rig.quote("VTI", 180.00)  # harvest VTI into SCHB
    rig.advance(hours=1)
    await rig.engine.handle(SplitEvent("VEA", Decimal(2), rig.clock.now()))
    rig.broker.apply_split("VEA", Decimal(2))
    await rig.engine.drain()
    kept_lots, kept_sales = rig.ledger.open_lots(), rig.ledger.sales
    assert vti not in {x.lot_id for x in kept_lots}
    assert any(s.permanently_disallowed for s in kept_sales)
    assert any(x.adjusted_basis != x.cost_basis for x in kept_lots)

    rig = await rigs.restart(rig)

    assert rig.ledger.open_lots() == kept_lots
    assert rig.ledger.sales == kept_sales
    assert len(await rig.journal(JournalKind.SPLIT)) == 1


async def test_a_broker_outage_during_recovery_loses_neither_the_sale_nor_the_replacement(
    rigs: Rigs, db_url: str
) -> None:
    """Orders docstring: "Crash-only: `resume()` is both startup and recovery." Startup may
    itself be cut short: the sale filled while the daemon was down, and on the next start the
    broker's executions endpoint fails while the daemon recovers that fill, so the start fails.
    The start after that must still journal the fill once and place the replacement -- an intent
    never becomes final before the fills it reports are in the journal."""
    rig = await rigs.open(db_url)
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await rig.engine.handle(Quote("VTI", 180.00, 180.04, rig.clock.now()))  # no market yet
    await rig.close()
    rig.market("VTI", 180.00)
    rig.broker.fill_open_orders()  # the sale fills at the broker while we are down
    rig.advance(minutes=1)
    rig.broker.fills_outage = 1

    with pytest.raises(BrokerError):
        await rigs.restart(rig)  # the start fails: the daemon exits (systemd restarts it)
    rig.advance(minutes=1)
    rig = await rigs.restart(rigs.opened[-1])
    await _quote_the_awaited_replacement(rig)

    await _assert_recovered_once(rig, lot)
