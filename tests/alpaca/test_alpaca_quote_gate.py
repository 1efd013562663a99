"""The quote gate: quotes far above every trigger are held back unparsed by the adapter.

`adapters.base.QuoteGating`: the engine publishes, per symbol, the highest bid it acts on
(its trigger, widened by the quote filter's zone); the Alpaca adapter keeps a quote bidding
above it only as the symbol's latest, parsed when someone asks (`engine.quote_of`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgpack
import pytest
from alpacakit import Daemons, hold
from fake_alpaca import FakeAlpaca

pytestmark = pytest.mark.timeout(60)


async def test_a_quote_far_above_the_trigger_is_held_back_as_the_latest_quote(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """The engine never handles it, yet it is the symbol's latest quote for pricing."""
    hold(fake, "VTI", "40", "200")
    running = await daemons.start()
    await fake.wait_for_data_subscription("VTI")
    handled, seen = running.engine.stats.quotes, running.broker.stocks.seen

    await fake.publish_quote("VTI", "250.00", "250.04")
    await fake.wait_until(lambda: running.broker.stocks.seen > seen, what="the quote")

    assert running.engine.stats.quotes == handled
    quote = running.engine.quote_of("VTI")
    assert quote is not None
    assert (quote.bid, quote.ask) == (250.0, 250.04)
    assert running.engine.gate["VTI"] == running.engine.triggers["VTI"] * running.engine._zone


async def test_a_quote_near_the_trigger_reaches_the_engine_and_opens_the_gate(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Inside the quote filter's zone every quote counts, so the gate opens for the symbol
    until a quote leaves the zone again (which resets the filter)."""
    hold(fake, "VTI", "40", "200")
    running = await daemons.start()
    await fake.wait_for_data_subscription("VTI")
    engine = running.engine
    near = engine.triggers["VTI"] * 1.001
    handled = engine.stats.quotes

    await fake.publish_quote("VTI", f"{near:.2f}", f"{near + 0.04:.2f}")
    await fake.wait_until(lambda: engine.stats.quotes > handled, what="the near quote")
    assert engine.gate["VTI"] == float("inf")

    await fake.publish_quote("VTI", "250.00", "250.04")
    await fake.wait_until(lambda: engine.stats.quotes > handled + 1, what="the far quote")
    assert engine.gate["VTI"] == engine.triggers["VTI"] * engine._zone


async def test_a_malformed_quote_is_never_held_back_but_counted(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue §4: a quote whose bid is no number cannot be compared with the gate; it takes
    the full path and is counted as malformed, and is nobody's latest quote."""
    hold(fake, "VTI", "40", "200")
    running = await daemons.start()
    await fake.wait_for_data_subscription("VTI")
    bad = {"T": "q", "S": "VTI", "bp": "250", "ap": 250.04, "t": msgpack.Timestamp(0)}

    await fake.send_raw_data_frame(msgpack.packb([bad]))
    await fake.wait_until(lambda: running.broker.stats.malformed == 1, what="the bad quote")

    assert running.engine.quote_of("VTI") is None


async def test_a_held_back_quote_gone_stale_prices_nothing(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """A held-back quote older than `stale_after` is not returned: a replacement waits for a
    fresh quote rather than pricing an order on an old one."""
    hold(fake, "VTI", "40", "200")
    running = await daemons.start()
    await fake.wait_for_data_subscription("VTI")
    seen = running.broker.stocks.seen
    old = datetime.now(UTC) - timedelta(seconds=running.broker.config.stale_after + 60)

    await fake.publish_quote("VTI", "250.00", "250.04", t=old)
    await fake.wait_until(lambda: running.broker.stocks.seen > seen, what="the quote")

    assert running.engine.quote_of("VTI") is None
