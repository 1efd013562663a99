"""Bad messages from TWS are logged, counted and dropped; the connection carries on.

Issue #9 §3: "bad messages are logged, counted and dropped". ib_async's decoder
(`Decoder.interpret`) catches what a message's handler raises and logs it on the
``ib_async.Decoder`` logger; the adapter counts those records
(`adapters.error_records.ErrorRecordCounter`) and its own refusals of values it cannot trust
(non-positive or NaN ticks).
"""

from __future__ import annotations

import pytest
from fake_tws import FakeTWS
from ibkit import Events, until

from adapters.ib.broker import IBBroker

pytestmark = pytest.mark.timeout(30)


async def test_malformed_messages_are_counted_and_dropped_without_killing_the_connection(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """A tick with a price that is not a number, a truncated order status and an unknown
    message id: each counted once; quotes still flow afterwards on the same connection."""
    broker, events = connected
    await broker.subscribe({"VTI"})
    request = await tws.wait_for_request("reqMktData")
    req_id = request.fields[2]
    await tws.send_fields(1, 6, req_id, 1, "garbage", 100, 0)
    await tws.send_fields(3, 5)
    await tws.send_fields(9999, 1, 2)
    errors = broker.connection.decoder_errors
    await until(lambda: errors.count == 3)
    await tws.publish_quote("VTI", 100.0, 100.02)
    await events.wait_until(lambda: bool(events.quotes))
    assert events.quotes[-1].bid == 100.0
    assert broker.connection.stats.connects == 1
    assert broker.connection.stats.drops == 0


async def test_a_nan_tick_is_dropped_and_counted(
    tws: FakeTWS, connected: tuple[IBBroker, Events]
) -> None:
    """A bid of "nan" decodes as a float NaN: the adapter drops that quote and counts it."""
    broker, events = connected
    await broker.subscribe({"VTI"})
    request = await tws.wait_for_request("reqMktData")
    req_id = request.fields[2]
    await tws.publish_quote("VTI", 100.0, 100.02)
    await events.wait_until(lambda: len(events.quotes) == 1)
    bad = broker.market_data.stats.bad_ticks
    await tws.send_fields(1, 6, req_id, 1, "nan", 100, 0)
    await until(lambda: broker.market_data.stats.bad_ticks == bad + 1)
    assert len(events.quotes) == 1
