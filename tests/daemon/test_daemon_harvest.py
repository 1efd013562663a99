"""The tick path to a harvest: when a quote leads to a sale and a replacement, and when not.

Household: 40 VTI bought long ago at $200 ($8,000 basis) in a taxable account; thresholds are
the defaults (5% and $100), so the lot's trigger is near $190. Substitutes VTI -> SCHB -> ITOT.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from daemonkit import TAXABLE, Rig, Rigs, make_settings

from adapters.sim.broker import SimCosts
from adapters.storage.records import IntentKind, IntentStatus
from daemon.events import Quote
from daemon.orders import intent_id
from ledger.model import Action

FEE = Decimal("1.00")


async def test_falling_bid_harvests_then_buys_the_first_substitute_with_the_actual_proceeds(
    rigs: Rigs,
) -> None:
    """Issue: "A falling bid crossing a lot's threshold → one harvest-sell intent persisted
    BEFORE the order leaves, then the sale fills, then a replacement buy of the first allowed
    member of the lot's `[[substitutes]]` group, sized from the sale's actual proceeds; journal
    holds both fills; ledger shows the replacement lot."

    The broker charges $1 an order, so the actual proceeds ($7,199) differ from bid x shares;
    the buys pay their fees from the proceeds too.
    """
    rig = await rigs.open(
        costs=SimCosts(fee_per_order=FEE), settings=make_settings(harvest={"fee_per_order": FEE})
    )
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)

    await rig.quote("VTI", 180.00, 180.04)

    sale_id = rig.harvest_id("VTI", lot)
    sale = await rig.intent(sale_id)
    assert sale.kind is IntentKind.HARVEST_SELL
    assert sale.status is IntentStatus.FILLED
    assert (sale.quantity, sale.lot_id) == (Decimal(40), lot)
    # Persisted before the order left: the broker found it stored when the order arrived.
    before = rig.broker.stored_at_submit[sale_id]
    assert before is not None
    assert before.status is IntentStatus.SUBMITTED
    assert sale.filled_notional == Decimal(40) * Decimal("180.00") - FEE

    buy, *top_ups = await rig.buys_of(sale_id)
    assert (buy.symbol, buy.parent_intent_id, buy.status) == ("SCHB", sale_id, IntentStatus.FILLED)
    assert buy.payload["budget"] == str(sale.filled_notional)
    assert buy.limit_price is not None
    assert buy.quantity == ((sale.filled_notional - FEE) / buy.limit_price).quantize(
        Decimal("1e-9"), rounding=ROUND_DOWN
    )
    # What the first fill left (the limit's 0.2% above the ask) is bought too, one fee each.
    assert [(t.symbol, t.status) for t in top_ups] == [("SCHB", IntentStatus.FILLED)]
    spent = sum((b.filled_notional for b in (buy, *top_ups)), Decimal(0))
    assert Decimal(0) <= sale.filled_notional - spent < FEE
    assert rig.broker.submissions == 3

    fills = await rig.fills()
    assert [(f.action, f.symbol, f.quantity, f.lot_id == lot) for f in fills] == [
        (Action.SELL, "VTI", Decimal(40), True),
        (Action.BUY, "SCHB", buy.quantity, False),
        (Action.BUY, "SCHB", top_ups[0].quantity, False),
    ]
    lots = rig.ledger.open_lots()
    assert [(x.account, x.symbol, x.quantity) for x in lots] == [
        (TAXABLE, "SCHB", b.quantity) for b in (buy, *top_ups)
    ]
    assert lots[0].lot_id == fills[1].lot_id
    (sold,) = rig.ledger.sales
    assert (sold.lot_id, sold.proceeds, sold.gain_loss) == (
        lot,
        Decimal("7199.00"),
        Decimal("-801.00"),
    )
    assert not sold.washed
    assert rig.engine.stats.harvests == 1


async def test_a_quote_above_the_trigger_is_not_even_evaluated(rig: Rig) -> None:
    """Issue: "A quote above the trigger does nothing (no evaluation: `engine.stats.evaluations`
    unchanged)" -- the O(1) tick path stops it before any evaluation, order or intent."""
    await rig.hold("VTI", "40", "200")
    assert rig.engine.triggers["VTI"] == pytest.approx(190.0)

    await rig.quote("VTI", 190.50, 190.54)

    assert rig.engine.stats.evaluations == 0
    assert rig.broker.submissions == 0
    assert await rig.repo.open_intents() == []
    assert rig.ledger.position(TAXABLE, "VTI") == Decimal(40)


async def test_the_bid_decides_not_the_ask(rig: Rig) -> None:
    """Issue: "Judge on the bid, not the last trade/ask: a quote whose ask is below the trigger
    but bid above does not harvest." A sale gets the bid; the same ask with the bid below the
    trigger is a harvest."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)

    await rig.quote("VTI", 190.20, 189.00)  # ask below the $190 trigger, bid above

    assert rig.engine.stats.evaluations == 0
    assert rig.broker.submissions == 0

    await rig.quote("VTI", 188.90, 189.00)  # the bid crosses

    assert rig.engine.stats.evaluations == 1
    assert (await rig.intent(rig.harvest_id("VTI", lot))).status is IntentStatus.FILLED


@pytest.mark.parametrize(
    ("bid", "ask"),
    [
        pytest.param(float("nan"), 150.0, id="nan-bid"),
        pytest.param(150.0, float("nan"), id="nan-ask"),
        pytest.param(0.0, 150.0, id="zero-bid"),
        pytest.param(-150.0, 150.0, id="negative-bid"),
        pytest.param(-150.0, -149.0, id="negative-both"),
        pytest.param(150.0, 149.0, id="crossed"),
        pytest.param(150.0, float("inf"), id="infinite-ask"),
        pytest.param(float("inf"), float("inf"), id="infinite-both"),
    ],
)
async def test_insane_quotes_are_ignored(rig: Rig, bid: float, ask: float) -> None:
    """Issue: "Insane quotes ignored: NaN, zero, negative, crossed (bid > ask)." Counted, never
    stored as the market, never evaluated, never traded on. An infinite price is as insane as
    NaN (and, kept as a substitute's market, would price a replacement at infinity)."""
    await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)

    await rig.deliver(Quote("VTI", bid, ask, rig.clock.now()))

    assert rig.engine.stats.insane_quotes == 1
    assert "VTI" not in rig.engine.quotes
    assert rig.engine.stats.evaluations == 0
    assert rig.broker.submissions == 0


async def test_an_infinite_ask_never_prices_a_replacement(rig: Rig) -> None:
    """Issue: "Insane quotes ignored"; issue #13 A.4: "A harvest may start only when its
    replacement is priced". A substitute quoted with an infinite ask is not priced: VTI is not
    sold (ITOT has no quote either); once SCHB is quoted sanely, the next VTI quote harvests,
    the same day, into SCHB."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.deliver(Quote("SCHB", 50.00, float("inf"), rig.clock.now()))

    await rig.quote("VTI", 180.00)
    assert rig.broker.submissions == 0
    (reason,) = [r for _a, _s, r in rig.engine.stats.distinct_skips]
    assert reason == "no_replacement: SCHB: no fresh quote; ITOT: no fresh quote"

    await rig.quote("SCHB", 50.00, 50.04)
    await rig.quote("VTI", 180.00)

    buy = await rig.intent(intent_id(IntentKind.REPLACEMENT_BUY, rig.harvest_id("VTI", lot)))
    assert (buy.symbol, buy.status, buy.limit_price) == (
        "SCHB",
        IntentStatus.FILLED,
        Decimal("50.15"),
    )
