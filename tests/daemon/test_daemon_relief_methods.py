"""Issue #9 §2 "Lot relief": at a broker with a fixed method the daemon harvests only what the
broker relieves first.

IB relieves a sale by the account's Tax Optimizer method
(https://www.ibkrguides.com/taxoptimizer/ibto/lotmatchingmethods.htm); a sale relieves a
prefix of that order, so the decision may only harvest such prefixes, in the order at the
bid (`strategies.decision.relief_order`). Household: VTI in a taxable account; a gain lot
G (40 at $150) bought first, a loss lot L (40 at $200) second, both short term and more than
30 days old; VTI bids $180.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from daemonkit import T0, Rig, Rigs, SpyBroker, make_settings

from adapters.base import LotRelief
from adapters.storage.records import IntentStatus
from daemon.clock import SimulatedClock
from ledger.conventions import LotMethod


def _broker_relieving(method: LotMethod, clock: SimulatedClock) -> SpyBroker:
    """Return the simulated broker relieving every sale by `method`, naming no lot (as IB)."""

    broker = SpyBroker(clock.now)
    broker.capabilities = replace(
        broker.capabilities, lot_relief=LotRelief(specific_lots=False, method=method)
    )
    return broker


async def _harvest_at_180(rigs: Rigs, method: LotMethod) -> tuple[Rig, list[str]]:
    clock = SimulatedClock(T0)
    broker = _broker_relieving(method, clock)
    settings = make_settings(harvest={"lot_method": method.value})
    rig = await rigs.open(settings=settings, broker=broker, clock=clock)
    await rig.hold("VTI", "40", "150", day=date(2023, 12, 1), lot_id="G")
    await rig.hold("VTI", "40", "200", day=date(2024, 1, 2), lot_id="L")
    await rig.quote("SCHB", 50.00)

    await rig.quote("VTI", 180.00)

    return rig, [row.lot_id for row in rig.ledger.sales]


@pytest.mark.parametrize("method", [LotMethod.MAX_ST_LOSS, LotMethod.HIFO], ids=str)
async def test_the_loss_lot_relieved_first_is_harvested(rigs: Rigs, method: LotMethod) -> None:
    """Maximize Short Term Loss relieves L (a $20 short-term loss a share) before G (a gain);
    HIFO relieves L ($200) before G ($150): the 40 shares sold are L's, as the ledger, which
    follows the broker, confirms."""
    rig, relieved = await _harvest_at_180(rigs, method)

    assert (await rig.intent(rig.harvest_id("VTI", "L"))).status is IntentStatus.FILLED
    assert relieved == ["L"]


async def test_under_fifo_the_gain_lot_first_prevents_the_harvest(rigs: Rigs) -> None:
    """FIFO relieves G first: selling 40 would realize G's $1,200 gain, selling 80 a net gain;
    no prefix of the broker's order has a loss, so nothing is sold."""
    rig, relieved = await _harvest_at_180(rigs, LotMethod.FIFO)

    assert rig.broker.submissions == 0
    assert relieved == []


async def test_under_max_st_gain_the_gain_lot_first_prevents_the_harvest(rigs: Rigs) -> None:
    """Maximize Short Term Gain relieves G's short-term gain first: the loss lot cannot be
    sold alone, so the daemon does not sell what would realize the gain."""
    rig, relieved = await _harvest_at_180(rigs, LotMethod.MAX_ST_GAIN)

    assert rig.broker.submissions == 0
    assert relieved == []
