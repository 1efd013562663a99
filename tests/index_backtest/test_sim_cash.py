"""The simulator's cash (`adapters.base.CashBalances`, issue #12 §5: "Dividends: credited as
cash and invested by the next rebalance"): sale proceeds in, purchases and fees out, deposits
and dividends in. Bookkeeping only: a buy is never refused for want of cash."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from adapters.base import CashBalances, OrderRequest
from adapters.sim.broker import SimBroker, SimCosts
from daemon.events import OrderSide, Quote

NOW = datetime(2024, 3, 4, 15, 30, tzinfo=UTC)


def _broker() -> SimBroker:
    broker = SimBroker(lambda: NOW, SimCosts(fee_per_order=Decimal(1)))
    broker.set_quote(Quote("XYZ", 99.0, 101.0, NOW))
    return broker


def _order(n: int, side: OrderSide, qty: int, account: str = "taxable") -> OrderRequest:
    return OrderRequest(
        client_order_id=f"t-{n}", account=account, symbol="XYZ", side=side, quantity=Decimal(qty)
    )


async def test_cash_follows_deposits_and_fills() -> None:
    """A $10,000 deposit, a buy of 50 at the $101 ask and a sale of 20 at the $99 bid, $1 a
    fill: 10,000 - 5,050 - 1 + 1,980 - 1 = 6,928."""
    broker = _broker()
    assert isinstance(broker, CashBalances)
    broker.deposit("taxable", Decimal(10_000))
    await broker.submit(_order(1, OrderSide.BUY, 50))
    await broker.submit(_order(2, OrderSide.SELL, 20))

    assert await broker.cash_balance("taxable") == Decimal(6_928)
    assert await broker.cash_balance("other") == 0


async def test_a_buy_beyond_the_cash_is_filled_and_the_cash_goes_below_zero() -> None:
    """The harvests' replacements never wait for cash: the simulator only keeps count."""
    broker = _broker()
    await broker.submit(_order(1, OrderSide.BUY, 10))

    assert (await broker.positions())[("taxable", "XYZ")] == 10
    assert await broker.cash_balance("taxable") == Decimal(-1_011)


async def test_a_dividend_pays_every_account_its_holding_times_the_amount() -> None:
    """$0.50 a share on 100 shares in one account and 30 in another: $50 and $15."""
    broker = _broker()
    broker.set_position("taxable", "XYZ", Decimal(100))
    broker.set_position("spouse", "XYZ", Decimal(30))
    broker.set_position("spouse", "SUB", Decimal(7))

    paid = broker.credit_dividend("XYZ", Decimal("0.50"))

    assert paid == Decimal(65)
    assert await broker.cash_balance("taxable") == Decimal(50)
    assert await broker.cash_balance("spouse") == Decimal(15)
