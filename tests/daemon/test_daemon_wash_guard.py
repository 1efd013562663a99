"""The daemon never creates a wash sale itself (IRC §1091, Rev. Rul. 2008-5).

§1091(a) disallows a loss on a sale when substantially identical stock is acquired within 30
days before or after it; Rev. Rul. 2008-5 extends that to purchases in the taxpayer's own IRA.
So the guard looks both ways, household-wide: no harvest after a recent identical purchase in
any account, and no replacement identical to a recent loss sale.

Household: 40 VTI bought long ago at $200 (trigger near $190); substitutes VTI -> SCHB -> ITOT;
declared identical VTI ~ VTSAX and SCHB ~ SWTSX.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from daemonkit import IRA, TAXABLE, Rig, Rigs, make_settings

from adapters.storage.records import IntentKind, IntentStatus
from daemon.events import Quote
from daemon.orders import intent_id
from ledger.model import Action


async def _market(rig: Rig) -> None:
    for symbol, bid in (("SCHB", 50.00), ("ITOT", 100.00), ("VEA", 40.00), ("IEFA", 60.00)):
        await rig.quote(symbol, bid)


@pytest.mark.parametrize(
    ("bought", "account"),
    [
        pytest.param("VTI", TAXABLE, id="same-symbol-taxable"),
        pytest.param("VTI", IRA, id="same-symbol-ira"),
        pytest.param("VTSAX", IRA, id="declared-identical-ira"),
    ],
)
async def test_no_harvest_after_an_identical_purchase_in_the_prior_30_days(
    rig: Rig, bought: str, account: str
) -> None:
    """IRC §1091(a) and Rev. Rul. 2008-5: a loss sale within 30 days after buying substantially
    identical stock -- the same symbol or a declared [[identical]] member, in ANY account of the
    household, an IRA included -- would be a wash sale, so the daemon does not harvest."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.record(
        Action.BUY, bought, "5", "185", account=account, day=rig.today() - timedelta(days=30)
    )
    await _market(rig)

    await rig.quote("VTI", 180.00)

    assert rig.engine.stats.evaluations == 1
    assert rig.engine.stats.skips == {"wash_guard": 1}
    assert rig.broker.submissions == 0
    assert await rig.repo.get_intent(rig.harvest_id("VTI", lot)) is None
    assert lot in {x.lot_id for x in rig.ledger.open_lots()}


@pytest.mark.parametrize("sold", ["SCHB", "SWTSX"])
async def test_replacement_skips_a_substitute_identical_to_a_recent_loss_sale(
    rig: Rig, sold: str
) -> None:
    """IRC §1091(a), the other direction: buying stock substantially identical to stock sold at
    a loss in the last 30 days washes that loss. SCHB (or SWTSX, declared identical to it) was
    sold at a loss 10 days ago, so the replacement skips SCHB and buys the next member, ITOT."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.record(Action.BUY, sold, "100", "50", day=rig.today() - timedelta(days=60))
    await rig.record(Action.SELL, sold, "100", "45", day=rig.today() - timedelta(days=10))
    await _market(rig)

    await rig.quote("VTI", 180.00)

    sale_id = rig.harvest_id("VTI", lot)
    buy = await rig.intent(intent_id(IntentKind.REPLACEMENT_BUY, sale_id))
    assert (buy.symbol, buy.status) == ("ITOT", IntentStatus.FILLED)
    assert {x.symbol for x in rig.ledger.open_lots()} == {"ITOT"}
    assert not any(row.washed for row in rig.ledger.sales)


async def _sold_the_only_substitute(rigs: Rigs, *, allow_cash: bool) -> tuple[Rig, str]:
    rig = await rigs.open(
        settings=make_settings(
            substitutes=[{"symbols": ["VTI", "SCHB"]}], harvest={"allow_cash": allow_cash}
        )
    )
    lot = await rig.hold("VTI", "40", "200")
    await rig.record(Action.BUY, "SCHB", "100", "50", day=rig.today() - timedelta(days=60))
    await rig.record(Action.SELL, "SCHB", "100", "45", day=rig.today() - timedelta(days=10))
    await _market(rig)
    await rig.quote("VTI", 180.00)
    return rig, lot


async def test_no_allowed_substitute_means_no_harvest_by_default(rigs: Rigs) -> None:
    """IRC §1091(a) with `harvest.allow_cash = false` (the default): when every substitute would
    wash a recent loss, the daemon keeps the position rather than sit out of the market."""
    rig, lot = await _sold_the_only_substitute(rigs, allow_cash=False)

    assert rig.engine.stats.skips == {"no_replacement": 1}
    assert rig.broker.submissions == 0
    assert await rig.repo.get_intent(rig.harvest_id("VTI", lot)) is None
    assert rig.ledger.position(TAXABLE, "VTI") == 40


async def test_allow_cash_harvests_and_holds_cash_when_no_substitute_is_allowed(
    rigs: Rigs,
) -> None:
    """IRC §1091(a) with `harvest.allow_cash = true`: the loss is harvested, no substitute is
    bought (buying SCHB would wash the SCHB loss), and the proceeds stay in cash."""
    rig, lot = await _sold_the_only_substitute(rigs, allow_cash=True)

    sale_id = rig.harvest_id("VTI", lot)
    sale = await rig.intent(sale_id)
    assert sale.status is IntentStatus.FILLED
    assert sale.payload["replacement"] is None
    assert await rig.repo.get_intent(intent_id(IntentKind.REPLACEMENT_BUY, sale_id)) is None
    assert rig.broker.submissions == 1
    assert rig.ledger.open_lots() == []
    assert not any(row.washed for row in rig.ledger.sales)


async def test_harvest_is_allowed_31_days_after_the_identical_purchase(rig: Rig) -> None:
    """IRC §1091(a): the window is 30 days before the sale. An IRA purchase of VTI blocks the
    harvest on day 30 after it and no longer on day 31, when the sale is no wash sale."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.record(
        Action.BUY, "VTI", "5", "185", account=IRA, day=rig.today() - timedelta(days=30)
    )
    await _market(rig)

    await rig.quote("VTI", 180.00)
    assert rig.engine.stats.skips == {"wash_guard": 1}

    rig.advance(days=1)
    await _market(rig)
    await rig.quote("VTI", 180.00)

    sale = await rig.intent(rig.harvest_id("VTI", lot))
    assert sale.status is IntentStatus.FILLED
    assert {(x.account, x.symbol) for x in rig.ledger.open_lots()} == {
        (IRA, "VTI"),
        (TAXABLE, "SCHB"),
    }
    (sold,) = rig.ledger.sales
    assert sold.lot_id == lot
    assert not sold.washed


@pytest.mark.parametrize("stage", ["sale-in-flight", "replacement-waiting-for-a-quote"])
async def test_no_loss_sale_of_a_security_a_planned_replacement_will_buy(
    rig: Rig, stage: str
) -> None:
    """IRC §1091(a): a loss sale of SCHB is washed by a purchase of SCHB within 30 days after
    it -- the daemon's own replacement buy included. VTI is being harvested into SCHB: its sale
    is still open at the broker, or has filled and the replacement waits for SCHB's first
    quote. When SCHB then crosses the held SCHB lot's trigger, the daemon must not harvest it
    only to buy SCHB for VTI a moment later."""
    await rig.hold("VTI", "40", "200")
    schb = await rig.hold("SCHB", "100", "60")
    await rig.quote("ITOT", 100.00)
    if stage == "sale-in-flight":
        await rig.quote("SCHB", 58.00)  # the daemon knows SCHB; the broker has no VTI market
        await rig.deliver(Quote("VTI", 180.00, 180.04, rig.clock.now()))
        assert rig.orders.pending_sell_symbols() == {"VTI"}
    else:
        await rig.quote("SCHB", 58.00)  # priced when VTI's harvest is decided
        await rig.deliver(Quote("VTI", 180.00, 180.04, rig.clock.now()))
        rig.broker.stale_feed.update({"SCHB", "ITOT"})  # then the feed goes quiet; it fills
        rig.market("VTI", 180.00)
        rig.broker.fill_open_orders()
        await rig.engine.drain()
        assert rig.orders.awaiting_quotes == {"SCHB"}
        rig.broker.stale_feed.clear()

    await rig.quote("SCHB", 50.00)
    if stage == "sale-in-flight":
        rig.market("VTI", 180.00)
        rig.broker.fill_open_orders()
        await rig.engine.drain()

    assert rig.engine.stats.skips == {"wash_guard": 1}
    assert schb in {x.lot_id for x in rig.ledger.open_lots()}
    assert [(s.symbol, s.washed) for s in rig.ledger.sales] == [("VTI", False)]
    assert {x.symbol for x in rig.ledger.open_lots()} == {"SCHB"}  # the lot and the replacement
