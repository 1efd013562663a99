"""The simulator of a whole-share broker: its capabilities say so and it refuses fractions
(issue #9 §1: capabilities, fractional shares among them, are data on the adapter)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.base import BrokerError, OrderRequest
from adapters.sim.broker import SimBroker
from daemon.events import OrderSide, Quote

T0 = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


def order(quantity: str) -> OrderRequest:
    return OrderRequest(f"tlh-{quantity}", "taxable", "VTI", OrderSide.BUY, Decimal(quantity))


async def test_a_whole_share_simulator_refuses_a_fractional_order() -> None:
    """A broker without fractional shares rejects a fractional quantity; whole shares fill."""
    broker = SimBroker(lambda: T0, fractional=False)
    broker.set_quote(Quote("VTI", 99.99, 100.01, T0))

    with pytest.raises(BrokerError, match="fractional shares are not supported"):
        await broker.submit(order("1.5"))
    filled = await broker.submit(order("2"))

    assert not broker.capabilities.fractional
    assert filled.filled_quantity == Decimal(2)


def test_only_that_simulator_is_whole_share() -> None:
    """The simulator's class capabilities (what `daemon.brokers.broker_capabilities` reads)
    stay fractional; the whole-share one differs in that alone."""
    whole = SimBroker(lambda: T0, fractional=False)

    assert SimBroker.capabilities.fractional
    assert SimBroker(lambda: T0).capabilities is SimBroker.capabilities
    assert whole.capabilities.lot_relief == SimBroker.capabilities.lot_relief
    assert whole.capabilities.order_types == SimBroker.capabilities.order_types
