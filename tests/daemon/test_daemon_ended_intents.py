"""Intents that ended in this process are answered from memory, as stored (daemon/orders.py,
`OrderManager._ended`): the journal and the intents table stay the source of truth.

Household as in test_daemon_harvest.py: 40 VTI bought long ago at $200; VTI -> SCHB.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from daemonkit import TAXABLE, Rig, Rigs

from adapters.storage.records import Intent
from daemon.events import Fill, OrderSide


async def _harvested(rigs: Rigs) -> tuple[Rig, str]:
    rig = await rigs.open()
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)
    await rig.quote("VTI", 180.00, 180.04)
    return rig, rig.harvest_id("VTI", lot)


async def test_a_fill_reported_again_after_its_order_ended_is_a_repeat_without_a_read(
    rigs: Rigs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker's stream reports a fill the recovery of the order journaled already: the
    order's journaled quantity is known in memory, so nothing is read or written."""
    rig, sale_id = await _harvested(rigs)
    (fill,) = [f for f in await rig.broker.fills_since(None) if f.client_order_id == sale_id]
    journal = await rig.journal()
    reads: list[str] = []
    get_intent = rig.repo.get_intent

    async def counted(intent_id: str) -> Intent | None:
        reads.append(intent_id)
        return await get_intent(intent_id)

    monkeypatch.setattr(rig.repo, "get_intent", counted)

    await rig.orders.on_fill(replace(fill, execution_id="stream-1"), "sim")

    assert reads == []
    assert await rig.journal() == journal


async def test_a_late_fill_of_an_ended_buy_keeps_what_was_stored_on_it_since(
    rigs: Rigs,
) -> None:
    """A swap back marks the replacement it sold (a payload key) after the buy ended; a fill
    of that buy counted later (no cumulative quantity, so a new execution) adds its lot and
    keeps the mark."""
    rig, sale_id = await _harvested(rigs)
    (buy, *_) = await rig.buys_of(sale_id)
    await rig.repo.update_intent(buy.intent_id, payload={**buy.payload, "swapped_back": "x"})
    late = Fill(
        client_order_id=buy.intent_id,
        execution_id="late-1",
        account=TAXABLE,
        symbol="SCHB",
        side=OrderSide.BUY,
        quantity=Decimal(1),
        price=Decimal("50.04"),
        at=rig.clock.now(),
        broker_order_id=buy.broker_order_id,
    )

    await rig.orders.on_fill(late, "sim")

    stored = await rig.intent(buy.intent_id)
    assert stored.payload["swapped_back"] == "x"
    assert len(stored.payload["lots"]) == len(buy.payload["lots"]) + 1
    assert stored.filled_quantity == buy.filled_quantity + 1
