"""The cash a direct index may invest, read from Alpaca's account through the real SDK path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpacakit import ACCOUNT
from fake_alpaca import FakeAlpaca

from adapters.alpaca.broker import AlpacaBroker
from adapters.base import CashBalances, OrderRequest
from daemon.events import OrderSide

pytestmark = pytest.mark.timeout(30)


async def test_cash_balance_is_the_accounts_cash(fake: FakeAlpaca, broker: AlpacaBroker) -> None:
    """Issue #12 §5: a deposit the daemon sees is the account's cash (`GET /v2/account`)."""
    fake.state.cash = Decimal("12345.67")
    assert isinstance(broker, CashBalances)
    assert await broker.cash_balance(ACCOUNT) == Decimal("12345.67")


async def test_cash_held_by_an_open_buy_is_not_spendable(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Alpaca's non-marginable buying power excludes what open buy orders reserve, so a
    rebalance never plans to spend the same dollars twice."""
    fake.state.cash = Decimal(10_000)
    fake.set_quote("VTI", "99.98", "100.02")
    await broker.submit(
        OrderRequest(
            client_order_id="hold-cash",
            account=ACCOUNT,
            symbol="VTI",
            side=OrderSide.BUY,
            quantity=Decimal(10),
            limit_price=Decimal(50),
        )
    )
    assert await broker.cash_balance(ACCOUNT) == Decimal(9_500)


async def test_another_accounts_cash_is_zero(fake: FakeAlpaca, broker: AlpacaBroker) -> None:
    """An outside account's cash is never this broker's to spend (`daemon.broker_accounts`)."""
    fake.state.cash = Decimal(5_000)
    assert await broker.cash_balance("ira") == Decimal(0)
