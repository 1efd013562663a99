"""Stock splits: more shares, the same basis and holding period, and no phantom loss."""

from __future__ import annotations

from decimal import Decimal

from daemonkit import LONG_AGO, TAXABLE, Rig

from adapters.storage.records import JournalKind
from daemon.events import SplitEvent


async def test_a_split_multiplies_shares_keeps_basis_and_does_not_trigger_a_harvest(
    rig: Rig,
) -> None:
    """Issue: "Stock split (`SplitEvent`) multiplies lot quantities, keeps basis and holding
    period, and the post-split price does not trigger a harvest." (The old basis is spread over
    the new shares and the holding period carries over: IRC §307 and §1223.) After a 2:1 split
    of 40 shares bought at $200, a $99 bid is a small loss on 80 shares of $100 basis, not a
    $101 loss per share."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    before = {x.lot_id: x for x in rig.ledger.open_lots()}[lot]

    await rig.engine.handle(SplitEvent("VTI", Decimal(2), rig.clock.now()))
    rig.broker.apply_split("VTI", Decimal(2))
    await rig.engine.drain()
    await rig.quote("VTI", 99.00)

    after = {x.lot_id: x for x in rig.ledger.open_lots()}[lot]
    assert after.quantity == 2 * before.quantity == Decimal(80)
    assert (after.cost_basis, after.adjusted_basis) == (before.cost_basis, before.adjusted_basis)
    assert after.cost_basis == Decimal("8000.00")
    assert (after.acquired, after.holding_period_start) == (LONG_AGO, LONG_AGO)
    assert rig.engine.triggers["VTI"] < 99.00
    assert rig.engine.stats.evaluations == 0
    assert rig.broker.submissions == 0
    assert rig.ledger.position(TAXABLE, "VTI") == Decimal(80)
    assert len(await rig.journal(JournalKind.SPLIT)) == 1


async def test_the_same_split_delivered_twice_is_applied_once(rig: Rig) -> None:
    """Engine: a split is journaled under the key ``split:SYMBOL:DAY``, so the same split
    reported again (say, a reconnect replaying the day's corporate actions) is not applied
    twice -- doubling the shares twice would invent shares and a phantom loss."""
    await rig.hold("VTI", "40", "200")
    split = SplitEvent("VTI", Decimal(2), rig.clock.now())

    await rig.engine.handle(split)
    await rig.engine.handle(split)

    assert rig.ledger.position(TAXABLE, "VTI") == Decimal(80)
    assert len(await rig.journal(JournalKind.SPLIT)) == 1
