"""Streaming quotes from IB: exactly the watched symbols, a cheap gated tick path, freshness.

Issue #9 §2: streaming ``reqMktData`` bid/ask per watched symbol, contracts qualified once
(conIds kept), the market-data type configurable, within IB's line limits (subscribe only what
the engine watches); after 1101 (connectivity restored, data lost) every subscription is
requested again (shared/reference/libraries.md §12: ib_async does not do it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fake_tws import FakeTWS
from ibkit import Events, Resyncs, until

from adapters.base import MarketDataHealth, QuoteGating
from adapters.ib.broker import IBBroker
from daemon.events import Quote

pytestmark = pytest.mark.timeout(30)


async def test_quotes_stream_for_exactly_the_subscribed_symbols(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """Subscribing {VTI, SCHB} then {SCHB, ITOT} leaves exactly SCHB and ITOT streaming."""
    broker, events = connected
    await broker.subscribe({"VTI", "SCHB"})
    await tws.wait_until(lambda: tws.subscribed_symbols() == {"VTI", "SCHB"})
    await broker.subscribe({"SCHB", "ITOT"})
    await tws.wait_until(lambda: tws.subscribed_symbols() == {"SCHB", "ITOT"})
    await tws.publish_quote("ITOT", 120.5, 120.52)
    await events.wait_until(lambda: any(q.symbol == "ITOT" for q in events.quotes))
    quote = events.quotes[-1]
    assert (quote.symbol, quote.bid, quote.ask) == ("ITOT", 120.5, 120.52)
    assert str(quote.bid_decimal) == "120.5"
    assert {q.symbol for q in events.quotes} <= {"SCHB", "ITOT"}


async def test_contracts_are_qualified_once(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """A symbol's contract details are asked once; its conId is kept for later requests."""
    broker, _ = connected
    await broker.subscribe({"VTI"})
    await broker.subscribe(set())
    await broker.subscribe({"VTI"})
    await tws.wait_for_subscription("VTI")
    assert len(tws.requests_named("reqContractDetails")) == 1
    assert broker.market_data.contracts["VTI"].conId == tws.con_id("VTI")


async def test_a_share_class_symbol_is_quoted_under_tlhs_name(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """BRK.B is ``BRK B`` at IB; the quote comes back as BRK.B."""
    broker, events = connected
    await broker.subscribe({"BRK.B"})
    await tws.wait_for_subscription("BRK B")
    await tws.publish_quote("BRK B", 480.1, 480.3)
    await events.wait_until(lambda: bool(events.quotes))
    assert events.quotes[-1].symbol == "BRK.B"


async def test_the_market_data_type_is_requested_before_data(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """``market_data_type = "delayed"`` sends reqMarketDataType(3) (TWS API: 3 = delayed)."""
    broker = brokers(settings={"market_data_type": "delayed"})
    await broker.connect(Events())
    request = await tws.wait_for_request("reqMarketDataType")
    assert request.fields[-1] == "3"


async def test_bad_ticks_are_counted_and_dropped(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """A quote whose bid is not positive never reaches the engine; it is counted."""
    broker, events = connected
    await broker.subscribe({"VTI"})
    await tws.wait_for_subscription("VTI")
    await tws.publish_quote("VTI", -1.0, 100.02)
    await until(lambda: broker.market_data.stats.bad_ticks >= 1)
    await tws.publish_quote("VTI", 100.0, 100.02)
    await events.wait_until(lambda: bool(events.quotes))
    assert all(q.bid > 0 and not math.isnan(q.ask) for q in events.quotes)


async def test_the_gate_holds_back_quotes_above_it(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """QuoteGating: a bid above its symbol's gate is only remembered (`latest_quote`); the
    next one at or below the gate is emitted, and the held-back bid is reported once."""
    broker, events = connected
    assert isinstance(broker, QuoteGating)
    broker.quote_gate()["VTI"] = 99.0
    await broker.subscribe({"VTI"})
    await tws.wait_for_subscription("VTI")
    await tws.publish_quote("VTI", 100.0, 100.02)
    await until(lambda: broker.latest_quote("VTI") is not None)
    assert events.quotes == []
    held = broker.latest_quote("VTI")
    assert held is not None
    assert held.bid == 100.0
    await tws.publish_quote("VTI", 98.5, 98.52)
    await events.wait_until(lambda: bool(events.quotes))
    assert events.quotes[-1].bid == 98.5
    assert broker.held_back_bid("VTI") == 100.0
    assert broker.held_back_bid("VTI") is None
    assert broker.latest_quote("VTI") is None


async def test_quotes_are_stale_while_disconnected_or_old(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """MarketDataHealth: a quote is fresh only while connected and linked, and recent."""
    broker = brokers()
    await broker.connect(Events())
    assert isinstance(broker, MarketDataHealth)
    now = datetime.now(UTC)
    assert broker.quote_is_fresh(Quote("VTI", 100.0, 100.02, now))
    assert not broker.quote_is_fresh(Quote("VTI", 100.0, 100.02, now - timedelta(seconds=61)))
    await tws.lose_connectivity()
    await until(lambda: not broker.connection.linked)
    assert not broker.quote_is_fresh(Quote("VTI", 100.0, 100.02, datetime.now(UTC)))


async def test_after_1101_every_subscription_is_requested_again(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """1101 (restored, market data lost): resubscribe, and ask for a resync."""
    broker, events = connected
    resyncs = Resyncs()
    broker.on_resync(resyncs)
    await broker.subscribe({"VTI", "SCHB"})
    await tws.wait_until(lambda: tws.subscribed_symbols() == {"VTI", "SCHB"})
    before = len(tws.requests_named("reqMktData"))
    await tws.lose_connectivity()
    await tws.restore_connectivity(data_lost=True)
    await tws.wait_until(lambda: len(tws.requests_named("reqMktData")) == before + 2)
    await tws.wait_until(lambda: tws.subscribed_symbols() == {"VTI", "SCHB"})
    await until(lambda: bool(resyncs.reasons))
    assert "1101" in resyncs.reasons[0]
    await tws.publish_quote("SCHB", 25.0, 25.01)
    await events.wait_until(lambda: any(q.symbol == "SCHB" for q in events.quotes))


async def test_latest_quotes_answers_streamed_and_unstreamed_symbols(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """QuoteSnapshots: a streamed symbol as it stands, another from a snapshot request."""
    broker, events = connected
    await broker.subscribe({"VTI"})
    await tws.wait_for_subscription("VTI")
    await tws.publish_quote("VTI", 100.0, 100.02)
    await events.wait_until(lambda: bool(events.quotes))
    await tws.publish_quote("VOO", 500.0, 500.1)
    quotes = await broker.latest_quotes(["VTI", "VOO"])
    assert quotes["VTI"].bid == 100.0
    assert quotes["VOO"].ask == 500.1


async def test_without_a_subscription_delayed_data_streams(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """An account without a market-data subscription, ``market_data_type = "delayed"``: the
    delayed ticks (types 66/67) stream as bid/ask."""
    tws.set_market_data_entitled(False)
    broker = brokers(settings={"market_data_type": "delayed"})
    events = Events()
    await broker.connect(events)
    await broker.subscribe({"VTI"})
    await tws.wait_for_subscription("VTI")
    await tws.publish_quote("VTI", 100.0, 100.02)
    await events.wait_until(lambda: bool(events.quotes))
    assert (events.quotes[-1].bid, events.quotes[-1].ask) == (100.0, 100.02)


async def test_without_a_subscription_live_data_is_refused_and_logged(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """Live data without a subscription: TWS answers error 354, counted; nothing streams."""
    tws.set_market_data_entitled(False)
    broker, _ = connected
    await broker.subscribe({"VTI"})
    await until(lambda: broker.connection.stats.errors[354] == 1)
    assert tws.subscribed_symbols() == set()
