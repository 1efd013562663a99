"""Rebalance orders in the status listings (daemon/snapshot.py): a rebalance sale is no
harvest, and a harvest of the same position on the same day keeps its own fills.

Household (tests/daemon/daemonkit.py): VTI lots bought long ago, 10 at $190 and 40 at $200;
substitutes VTI -> SCHB -> ITOT. A rebalance sells the $190 lot at $180 (a $100 loss), then a
$180 bid harvests the $200 lot ($800 loss) into SCHB a minute later, on Monday 2024-03-04.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from daemonkit import LONG_AGO, TAXABLE, Rigs

from daemon.observation import NOT_PAUSED
from daemon.snapshot import build_snapshot
from ledger.model import Action
from strategies.index.rebalance import PlannedTrade


async def test_a_same_day_harvest_keeps_its_own_loss_beside_a_rebalance_sale(
    rigs: Rigs,
) -> None:
    """The snapshot hands each day's sales of a position to that day's sale intents in order
    (`snapshot._fills_of`): the rebalance sale takes its own fill, so the harvest shows its
    $800 loss, not $900, and the rebalance sale is not listed as a harvest."""
    rig = await rigs.open()
    await rig.hold("VTI", "10", "190", lot_id="VTI-190")
    await rig.hold("VTI", "40", "200", day=LONG_AGO + timedelta(days=1), lot_id="VTI-200")
    rig.market("VTI", 180.00)
    sale = PlannedTrade("VTI", Action.SELL, Decimal(10), Decimal(180), ("VTI-190",))
    await rig.orders.place_plan("p1", TAXABLE, (sale,))
    rig.advance(minutes=1)
    await rig.quote("SCHB", 50.00, 50.04)

    await rig.quote("VTI", 180.00, 180.04)

    snap = await build_snapshot(
        rig.settings,
        rig.repo,
        rig.ledger,
        bids={},
        now=rig.clock.now(),
        pause=NOT_PAUSED,
        connected=True,
        trading_enabled=True,
        orders_in_flight=0,
    )
    assert [(h.symbol, h.quantity, h.loss, h.replacement) for h in snap.harvests] == [
        ("VTI", Decimal(40), Decimal("800.00"), "SCHB")
    ]
