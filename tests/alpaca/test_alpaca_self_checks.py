"""The Alpaca adapter's own checks for `tlh doctor` and its quotes on request, against the fake.

Issue #9 §1: `tlh doctor` keeps its general checks in one place and asks the adapter for its
own (`adapters.base.SelfChecks`); quotes on request are `adapters.base.QuoteSnapshots`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from alpacakit import FakeWithLatestQuotes, hold, make_broker
from fake_alpaca import FakeAlpaca

from adapters.base import QuoteSnapshots, SelfChecks, SessionCalendar

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def quoting_fake() -> AsyncIterator[FakeAlpaca]:
    """Yield a fake that also serves the latest-quotes market-data route."""
    async with FakeWithLatestQuotes() as server:
        yield server


async def test_the_adapter_checks_credentials_account_clock_and_market_data(
    fake: FakeAlpaca,
) -> None:
    """Issue §6 of the Alpaca issue, now the adapter's: credentials present, the account active
    (with the endpoints in use), the market clock, where quotes come from; no secret shown."""
    hold(fake, "VTI", "40", "200")
    broker = make_broker(fake)
    assert isinstance(broker, SelfChecks)
    assert isinstance(broker, QuoteSnapshots)
    assert isinstance(broker, SessionCalendar)
    try:
        checks = await broker.doctor_checks()
    finally:
        await broker.close()

    assert [(c.name, c.ok) for c in checks] == [
        ("credentials", True),
        ("account", True),
        ("market clock", True),
        ("market data", True),
    ]
    account = checks[1].detail
    assert account.startswith("ACTIVE, account ")
    assert f"paper trading API {fake.rest_url}" in account
    assert checks[3].detail == "held symbols priced from positions' current price"
    text = " ".join(c.detail for c in checks)
    assert fake.KEY not in text
    assert fake.SECRET not in text


async def test_a_blocked_account_fails_its_check_naming_the_block(fake: FakeAlpaca) -> None:
    """Alpaca's account fields (docs.alpaca.markets, Account): a blocked account or one whose
    trading is blocked cannot trade, and the check says which."""
    plain = fake.state.account_json

    def blocked() -> dict[str, Any]:
        return plain() | {"trading_blocked": True}

    fake.state.account_json = blocked  # type: ignore[method-assign]
    broker = make_broker(fake)
    try:
        checks = {c.name: c for c in await broker.doctor_checks()}
    finally:
        await broker.close()

    assert not checks["account"].ok
    assert checks["account"].detail.startswith("ACTIVE trading_blocked, account ")


async def test_rejected_keys_fail_the_account_check_without_showing_them(
    fake: FakeAlpaca,
) -> None:
    """A failed check says what answered and how, and never echoes a secret."""
    broker = make_broker(fake, api_key="PKWRONGKEY0000000000", secret_key="wrong-secret-value-1")
    try:
        checks = {c.name: c for c in await broker.doctor_checks()}
    finally:
        await broker.close()

    assert checks["credentials"].ok
    assert not checks["account"].ok
    assert checks["account"].detail.startswith(fake.rest_url)
    assert "wrong-secret-value-1" not in checks["account"].detail


async def test_latest_quotes_come_from_market_data_rest(quoting_fake: FakeAlpaca) -> None:
    """The latest stock quotes from the market-data REST API, as exact prices."""
    hold(quoting_fake, "VTI", "40", "200")
    quoting_fake.set_quote("VTI", "179.50", "179.54")
    broker = make_broker(quoting_fake)
    try:
        quotes = await broker.latest_quotes(["VTI"])
        checks = {c.name: c for c in await broker.doctor_checks()}
    finally:
        await broker.close()

    assert (quotes["VTI"].bid_decimal, quotes["VTI"].ask_decimal) == (
        Decimal("179.50"),
        Decimal("179.54"),
    )
    assert checks["market data"].detail == (
        "held symbols priced from latest quotes (market-data REST)"
    )


async def test_without_market_data_a_position_is_priced_at_its_current_price(
    fake: FakeAlpaca,
) -> None:
    """An account without the market-data route (no subscription) still prices what it holds:
    each position's current price, as bid and ask; a symbol it neither quotes nor holds is
    left out."""
    hold(fake, "VTI", "40", "200")
    fake.set_quote("VTI", "180.00", "180.04")
    broker = make_broker(fake)
    try:
        quotes = await broker.latest_quotes(["VTI", "SCHB"])
    finally:
        await broker.close()

    assert set(quotes) == {"VTI"}
    assert quotes["VTI"].bid == quotes["VTI"].ask
