"""`SimBroker.fills_since`: the executions after an instant, oldest first (adapters/base.py's
`Broker.fills_since`), whatever order the replay's clock made them in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.base import OrderRequest
from adapters.sim.broker import SimBroker
from daemon.events import OrderSide, Quote

T0 = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


async def _buy_at(broker: SimBroker, clock: dict[str, datetime], at: datetime, n: int) -> None:
    clock["now"] = at
    broker.set_quote(Quote("VTI", 99.99, 100.01, at))
    await broker.submit(OrderRequest(f"tlh-rb-{n}", "taxable", "VTI", OrderSide.BUY, Decimal(1)))


async def test_only_the_fills_after_the_instant_come_back_oldest_first() -> None:
    """A fill at the instant itself is not after it; one made later at an earlier time (a
    clock set back) still comes back in time order."""
    clock = {"now": T0}
    broker = SimBroker(lambda: clock["now"])
    await _buy_at(broker, clock, T0, 1)
    await _buy_at(broker, clock, T0 + timedelta(days=2), 2)
    await _buy_at(broker, clock, T0 + timedelta(days=1), 3)

    since_t0 = [f.client_order_id for f in await broker.fills_since(T0)]
    everything = [f.client_order_id for f in await broker.fills_since(None)]

    assert since_t0 == ["tlh-rb-3", "tlh-rb-2"]
    assert everything == ["tlh-rb-1", "tlh-rb-3", "tlh-rb-2"]
