"""Orders leave the daemon at most once, and only when trading and the risk limits allow.

Household: 40 VTI bought long ago at $200 (trigger near $190) and 100 VEA at $50 (trigger near
$47.50), both taxable; substitutes VTI -> SCHB -> ITOT and VEA -> IEFA.
"""

from __future__ import annotations

from typing import Any

import pytest
from daemonkit import T0, TAXABLE, Rig, Rigs, SpyBroker, make_settings

from adapters.storage.records import IntentStatus
from daemon.clock import SimulatedClock
from daemon.events import Quote


async def _crossing_quote_the_broker_cannot_fill(rig: Rig) -> None:
    """Deliver a crossing VTI bid the broker has no market for: the sale stays open there."""
    await rig.deliver(Quote("VTI", 180.00, 180.04, rig.clock.now()))


@pytest.mark.parametrize("restart", [False, True], ids=["same-daemon", "after-restart"])
async def test_the_same_harvest_decided_twice_the_same_day_is_ordered_once(
    rigs: Rigs, db_url: str, restart: bool
) -> None:
    """Issue: "Deterministic client order ids: the same harvest decided twice the same day (e.g.
    re-evaluating after the intent exists) never submits a second order." The first order is
    canceled unfilled at the broker; when the bid crosses again that day (in the same daemon,
    or in a new one on the same database) the decision maps to the same client order id, whose
    intent already exists, so nothing leaves."""
    rig = await rigs.open(db_url)
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await _crossing_quote_the_broker_cannot_fill(rig)
    sale_id = rig.harvest_id("VTI", lot)
    assert (await rig.intent(sale_id)).status is IntentStatus.ACCEPTED
    await rig.broker.cancel(sale_id)
    await rig.engine.drain()
    assert (await rig.intent(sale_id)).status is IntentStatus.CANCELED

    if restart:
        rig = await rigs.restart(rig)
    rig.advance(hours=2)
    evaluations = rig.engine.stats.evaluations
    await rig.quote("VTI", 179.00)

    assert rig.engine.stats.evaluations == evaluations + 1  # decided again ...
    assert rig.broker.submissions == 1  # ... and not ordered again
    assert (await rig.intent(sale_id)).status is IntentStatus.CANCELED
    assert await rig.fills() == []
    assert lot in {x.lot_id for x in rig.ledger.open_lots()}


async def test_the_same_lot_on_a_new_day_is_a_new_decision(rig: Rig) -> None:
    """Issue: "the same harvest decided twice the same day ... never submits a second order" --
    the id is of the harvest and its trading day, so the day after a canceled harvest the lot
    may be harvested again, under a new id."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await _crossing_quote_the_broker_cannot_fill(rig)
    first = rig.harvest_id("VTI", lot)
    await rig.broker.cancel(first)
    await rig.engine.drain()

    rig.advance(days=1)
    await rig.quote("SCHB", 50.00)
    await rig.quote("VTI", 180.00)

    second = rig.harvest_id("VTI", lot)
    assert second != first
    assert (await rig.intent(second)).status is IntentStatus.FILLED
    # The canceled sale, the sale, the replacement and the top-up of what it left in cash.
    assert rig.broker.submissions == 4


async def test_dry_run_stores_a_denied_intent_and_sends_nothing(rigs: Rigs) -> None:
    """Issue: "Dry run: with trading not enabled (a non-sim broker name ...), the harvest intent
    is stored DENIED with a `dry_run` reason and no order is submitted." Settings say mode
    "dry_run" and the broker is not the simulator, so `trading_enabled` is false."""
    clock = SimulatedClock(T0)
    broker = SpyBroker(clock.now)
    broker.name = "alpaca"
    rig = await rigs.open(broker=broker, clock=clock, settings=make_settings(mode="dry_run"))
    assert rig.orders.trading_enabled is False
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)

    await rig.quote("VTI", 180.00)

    intent = await rig.intent(rig.harvest_id("VTI", lot))
    assert intent.status is IntentStatus.DENIED
    assert intent.reason.startswith("dry_run")
    assert broker.submissions == 0
    assert broker.stored_at_submit == {}
    assert rig.engine.stats.skips == {"dry_run": 1}
    assert await rig.fills() == []
    assert rig.ledger.position(TAXABLE, "VTI") == 40


@pytest.mark.parametrize(
    ("risk", "reason"),
    [
        pytest.param({"max_order_notional": 100}, "max_order_notional", id="max_order_notional"),
        pytest.param({"kill_switch": True}, "kill switch", id="kill_switch"),
        pytest.param(
            {"max_harvests_per_day": 0}, "max_harvests_per_day", id="max_harvests_per_day=0"
        ),
    ],
)
async def test_a_risk_limit_denies_the_harvest(
    rigs: Rigs, risk: dict[str, Any], reason: str
) -> None:
    """Issue: "Risk limits: max_order_notional, max_harvests_per_day, kill_switch each deny (no
    order)." The intent is stored DENIED with the limit as its reason. The sale would be
    40 x $179.64 = $7,185.60 (the bid less the limit-price slippage); a larger sale is split
    into orders within `max_order_notional`, but not below one share ($179.64 > $100)."""
    rig = await rigs.open(settings=make_settings(risk=risk))
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)

    await rig.quote("VTI", 180.00)

    intent = await rig.intent(rig.harvest_id("VTI", lot))
    assert intent.status is IntentStatus.DENIED
    assert intent.reason.startswith("risk:")
    assert reason in intent.reason
    assert rig.broker.submissions == 0
    assert rig.ledger.position(TAXABLE, "VTI") == 40


@pytest.mark.parametrize("restart", [False, True], ids=["same-daemon", "after-restart"])
async def test_max_harvests_per_day_denies_the_harvest_past_the_limit(
    rigs: Rigs, db_url: str, restart: bool
) -> None:
    """Issue: "Risk limits: ... max_harvests_per_day ... deny (no order)." The day's count is
    kept in the database, so a restart does not reset it: with a limit of 1 the VTI harvest
    goes out, and the VEA harvest the same day is denied without an order."""
    rig = await rigs.open(db_url, settings=make_settings(risk={"max_harvests_per_day": 1}))
    vti = await rig.hold("VTI", "40", "200")
    vea = await rig.hold("VEA", "100", "50")
    await rig.quote("SCHB", 50.00)
    await rig.quote("VTI", 180.00)
    if restart:
        rig = await rigs.restart(rig)
    rig.advance(minutes=5)
    await rig.quote("IEFA", 60.00)

    await rig.quote("VEA", 44.00)

    assert (await rig.intent(rig.harvest_id("VTI", vti))).status is IntentStatus.FILLED
    denied = await rig.intent(rig.harvest_id("VEA", vea))
    assert denied.status is IntentStatus.DENIED
    assert "max_harvests_per_day" in denied.reason
    assert await rig.broker.get_order(denied.intent_id) is None
    assert rig.broker.submissions == 3  # the VTI sale, its replacement and its top-up
    assert rig.ledger.position(TAXABLE, "VEA") == 100


async def test_a_harvest_whose_replacement_would_break_max_daily_notional_is_denied(
    rigs: Rigs,
) -> None:
    """Issue: "Risk limits ... deny (no order)" and "no allowed substitute → no harvest
    (default)": a harvest is a sale and its replacement, so with `harvest.allow_cash = false`
    it must not end in cash. The $7,185.60 sale fits a $10,000 day, but its replacement (about
    $7,200 more) would not: the harvest is denied up front, rather than sold and then left in
    cash when the replacement is denied."""
    rig = await rigs.open(
        settings=make_settings(risk={"max_order_notional": 10_000, "max_daily_notional": 10_000})
    )
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)

    await rig.quote("VTI", 180.00)

    intent = await rig.intent(rig.harvest_id("VTI", lot))
    assert intent.status is IntentStatus.DENIED
    assert "max_daily_notional" in intent.reason
    assert rig.broker.submissions == 0
    assert rig.ledger.position(TAXABLE, "VTI") == 40
