"""Property: whatever the sources deliver, an order's journal holds exactly what it filled.

Issue #13 A.6. One execution reaches the daemon from the stream (possibly lost, possibly with
the order's filled quantity as it stood later) and as an exact activity, interleaved in any
order. `OrderManager.on_fill` journals by the order's cumulative quantity, so the journal
never holds more than the order filled and, once every activity is read, exactly that.
"""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path

from daemonkit import T0, TAXABLE, open_rig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.events import Fill, OrderSide


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[Decimal, list[Fill]]:
    """Return an order's filled quantity and its fills as they arrive, both sources merged."""
    sizes = draw(st.lists(st.integers(1, 20), min_size=1, max_size=5))
    total = Decimal(sum(sizes))
    stream: list[Fill] = []
    activities: list[Fill] = []
    cumulative = Decimal(0)
    for size in sizes:
        cumulative += size
        activities.append(_fill(size, cumulative))
        if draw(st.booleans()):  # delivered on the stream (else lost)
            stale = draw(st.integers(int(cumulative), int(total)))  # as it stood later
            stream.append(_fill(size, Decimal(stale)))
    merged: list[Fill] = []
    while stream or activities:
        source = stream if stream and (not activities or draw(st.booleans())) else activities
        merged.append(source.pop(0))
    return total, merged


def _fill(size: int, cumulative: Decimal) -> Fill:
    """Return a fill keyed as Alpaca's are: order id and the cumulative quantity it reports."""
    return Fill(
        client_order_id="order:o1",
        execution_id=f"o1:{cumulative}",
        account=TAXABLE,
        symbol="VTI",
        side=OrderSide.BUY,
        quantity=Decimal(size),
        price=Decimal("100"),
        at=T0,
        broker_order_id="o1",
        cumulative_quantity=cumulative,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_an_orders_journal_holds_exactly_what_it_filled(case: tuple[Decimal, list[Fill]]) -> None:
    """Never more than the order filled at any moment; exactly it at the end; a second
    delivery of everything adds nothing."""
    total, fills = case

    async def run() -> None:
        with tempfile.TemporaryDirectory() as folder:
            rig = await open_rig(f"sqlite+aiosqlite:///{Path(folder) / 'p.sqlite'}")
            try:
                for fill in fills:
                    await rig.orders.on_fill(fill, "sim")
                    assert rig.ledger.position(TAXABLE, "VTI") <= total
                assert rig.ledger.position(TAXABLE, "VTI") == total
                journaled = len(await rig.fills())
                for fill in fills:
                    await rig.orders.on_fill(fill, "sim")
                assert len(await rig.fills()) == journaled
                assert rig.engine.halted == set()
            finally:
                await rig.close()

    asyncio.run(run())
