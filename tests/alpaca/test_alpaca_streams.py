"""Stream health: the adapter's own watchdog over the SDK's streams, and stale market data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alpacakit import ACCOUNT, Daemons, Sink, hold, make_broker
from fake_alpaca import FakeAlpaca, FillPolicy

from adapters.alpaca.broker import AlpacaBroker
from daemon.events import Quote

pytestmark = pytest.mark.timeout(30)


class Brokers:
    """Adapters connected to the fake with a sink; closed after the test."""

    def __init__(self, fake: FakeAlpaca) -> None:
        self.fake = fake
        self.opened: list[AlpacaBroker] = []

    async def connect(self, symbols: set[str], **overrides: Any) -> tuple[AlpacaBroker, Sink]:
        """Connect an adapter, subscribe `symbols` and return it with its sink."""
        broker = make_broker(self.fake, **overrides)
        self.opened.append(broker)
        sink = Sink()
        await broker.connect(sink)
        await broker.subscribe(symbols)
        return broker, sink


@pytest.fixture
async def brokers(fake: FakeAlpaca) -> AsyncIterator[Brokers]:
    """Yield an adapter factory; every adapter is closed afterwards."""
    factory = Brokers(fake)
    try:
        yield factory
    finally:
        for broker in factory.opened:
            await broker.close()


async def test_data_handshake_that_never_answers_is_restarted_by_the_watchdog(
    fake: FakeAlpaca, brokers: Brokers
) -> None:
    """Issue §1: no authorized message within N s -> restart with backoff, data marked stale
    (the SDK itself would wait for ever)."""
    fake.set_data_silent(True, handshake=True)
    broker, sink = await brokers.connect({"VTI"}, auth_timeout=0.5)

    await fake.wait_for_connections("/v2/iex", 2)
    assert broker.stocks.health.stale
    assert broker.stocks.health.restarts >= 1
    fake.set_data_silent(False)
    await fake.wait_for_data_subscription("VTI")
    await fake.publish_quote("VTI", "250.01", "250.03")
    await fake.wait_until(lambda: len(sink.of(Quote)) == 1, what="a quote after the restart")

    assert not broker.stocks.health.stale


async def test_trading_handshake_that_never_answers_is_restarted_by_the_watchdog(
    fake: FakeAlpaca, brokers: Brokers
) -> None:
    """Issue §1: the trade-updates stream gets the same watchdog as market data."""
    fake.set_trading_silent(True)
    broker, _ = await brokers.connect(set(), auth_timeout=0.5)

    await fake.wait_for_connections("/stream", 2)
    fake.set_trading_silent(False)
    await fake.wait_for_trade_listener()

    assert broker.trading.health.restarts >= 1
    assert broker.trading.health.authorized


async def test_mute_data_while_the_market_is_open_restarts_and_marks_stale(
    fake: FakeAlpaca, brokers: Brokers
) -> None:
    """Issue §1/§4: no data for N s while the market is open -> stale, restart with backoff;
    a stored quote of a stale feed may no longer price an order."""
    broker, sink = await brokers.connect({"VTI"}, data_timeout=0.5)
    await fake.wait_for_data_subscription("VTI")
    await fake.publish_quote("VTI", "250.01", "250.03")
    await fake.wait_until(lambda: len(sink.of(Quote)) == 1, what="the first quote")
    (quote,) = sink.of(Quote)
    assert broker.quote_is_fresh(quote)

    fake.set_data_silent(True)
    await fake.wait_until(lambda: broker.stocks.health.restarts >= 1, what="a restart")
    assert not broker.quote_is_fresh(quote)
    await fake.wait_for_connections("/v2/iex", 2)

    assert broker.stocks.health.last_restart_reason.startswith("no data for 0.5s")


async def test_mute_data_while_the_market_is_closed_is_left_alone(
    fake: FakeAlpaca, brokers: Brokers
) -> None:
    """Issue §1: silence is only suspicious while the market is open (the broker's clock)."""
    fake.set_market_open(False)
    broker, _ = await brokers.connect({"VTI"}, data_timeout=0.3)
    await fake.wait_for_data_subscription("VTI")

    await asyncio.sleep(1.2)

    assert broker.stocks.health.restarts == 0
    assert fake.connections["/v2/iex"] == 1


async def test_stream_the_sdk_gave_up_on_after_error_409_is_restarted(
    fake: FakeAlpaca, brokers: Brokers
) -> None:
    """Issue §1: the stream task died (the SDK returns for good on 409) -> restart."""
    fake.auth_error_on_data(409, times=1)
    broker, sink = await brokers.connect({"VTI"})

    await fake.wait_for_data_subscription("VTI")
    await fake.publish_quote("VTI", "250.01", "250.03")
    await fake.wait_until(lambda: len(sink.of(Quote)) == 1, what="a quote after the restart")

    assert broker.stocks.health.restarts == 1
    assert broker.stocks.health.last_restart_reason.startswith("stream task ended")


async def test_old_quote_is_dropped_and_counted(fake: FakeAlpaca, brokers: Brokers) -> None:
    """Issue §4: stale market data is never traded on (a quote older than stale_after)."""
    broker, sink = await brokers.connect({"VTI"})
    await fake.wait_for_data_subscription("VTI")

    await fake.publish_quote("VTI", "250.01", "250.03", t=datetime.now(UTC) - timedelta(minutes=5))
    await fake.publish_quote("VTI", "250.02", "250.04")
    await fake.wait_until(lambda: broker.stats.quotes == 1, what="the fresh quote")

    assert broker.stats.stale_quotes == 1
    assert [q.bid_decimal for q in sink.of(Quote)] == [Decimal("250.02")]


async def test_crypto_pairs_stream_from_the_crypto_feed(fake: FakeAlpaca, brokers: Brokers) -> None:
    """Issue §1: CryptoDataStream sits behind the same interface as stocks."""
    _, sink = await brokers.connect({"VTI", "BTC/USD"})
    await fake.wait_for_data_subscription("BTC/USD", path="/v1beta3/crypto/us")

    await fake.publish_quote("BTC/USD", "90000.5", "90001.25", bid_size="0.25")
    await fake.wait_until(lambda: len(sink.of(Quote)) == 1, what="the crypto quote")

    (quote,) = sink.of(Quote)
    assert (quote.symbol, quote.bid_decimal, quote.ask_decimal) == (
        "BTC/USD",
        Decimal("90000.5"),
        Decimal("90001.25"),
    )
    assert fake.subscriptions is not None


async def test_resubscribing_while_streaming_adds_symbols_without_blocking_the_loop(
    fake: FakeAlpaca, brokers: Brokers
) -> None:
    """Issue §1: never subscribe from the loop thread synchronously (it deadlocks the SDK):
    a new symbol set is sent from a worker thread while the loop keeps running."""
    broker, sink = await brokers.connect({"VTI"})
    await fake.wait_for_data_subscription("VTI")

    await asyncio.wait_for(broker.subscribe({"VTI", "ITOT"}), 5)
    await fake.wait_for_data_subscription("ITOT")
    await fake.publish_quote("ITOT", "120.01", "120.03")
    await fake.wait_until(lambda: len(sink.of(Quote)) == 1, what="the new symbol's quote")

    assert fake.connections["/v2/iex"] == 1


async def test_replacement_waits_for_a_fresh_quote_while_market_data_is_stale(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue §4: stale market data holds harvesting: a sale that fills while the feed is
    stale does not buy its replacement at the old quote; it waits for a fresh one."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.MANUAL, "VTI")
    running = await daemons.start(data_timeout=0.5)
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.00", "50.04")
    await fake.publish_quote("VTI", "180.00", "180.04")
    await fake.wait_until(lambda: len(fake.orders) == 1, what="the harvest order")
    fake.set_data_silent(True)
    await fake.wait_until(lambda: running.broker.stocks.health.restarts >= 1, what="stale feed")

    await fake.fill(fake.orders[0].client_order_id)
    await fake.wait_until(
        lambda: running.engine.ledger.position(ACCOUNT, "VTI") == 0, what="the sale journaled"
    )
    await asyncio.sleep(0.2)
    assert len(fake.orders) == 1
    fake.set_data_silent(False)
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.10", "50.14")
    await fake.wait_until(lambda: len(fake.orders) == 2, what="the replacement")

    assert fake.orders[1].limit_price == Decimal("50.25")  # priced on the fresh ask
