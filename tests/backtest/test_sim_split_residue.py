"""The simulated broker after a split of fractional shares: the ledger multiplies each lot by
the ratio, the broker the whole position (`adapters/sim/broker.py`, `SPLIT_RESIDUE`); at 28
significant digits the two may differ in their last digits, and a sale of what the ledger holds
must still fill (issue #12: a refused dust sale of MSI held a rebalance back in 2011)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.base import BrokerError, OrderRequest
from adapters.sim.broker import SimBroker
from daemon.events import OrderSide, Quote

T0 = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
RATIO = Decimal(1) / Decimal(7)  # a 1-for-7 reverse split
LOTS = (Decimal("0.000001"), Decimal("0.000015"))


def _split_broker() -> SimBroker:
    broker = SimBroker(lambda: T0)
    broker.set_quote(Quote("MSI", 69.99, 70.01, T0))
    broker.set_position("taxable", "MSI", sum(LOTS, Decimal(0)))
    broker.apply_split("MSI", RATIO)
    return broker


def sell(quantity: Decimal) -> OrderRequest:
    return OrderRequest(f"tlh-{quantity}", "taxable", "MSI", OrderSide.SELL, quantity)


async def test_a_sale_of_the_lots_split_one_by_one_sells_the_position() -> None:
    """The lots split one by one come to more than the position split whole (by 1e-33 here);
    selling them fills and leaves no position, not a negative residue."""
    broker = _split_broker()
    by_lot = sum((q * RATIO for q in LOTS), Decimal(0))
    assert by_lot > (await broker.positions())[("taxable", "MSI")]

    filled = await broker.submit(sell(by_lot))

    assert filled.filled_quantity == by_lot
    assert await broker.positions() == {}


async def test_a_sale_above_the_position_by_more_than_the_residue_is_refused() -> None:
    """The tolerance is for arithmetic residues only: a billionth of a share too many is an
    oversale, refused."""
    broker = _split_broker()
    held = (await broker.positions())[("taxable", "MSI")]

    with pytest.raises(BrokerError, match="insufficient position"):
        await broker.submit(sell(held + Decimal("1e-9")))
