"""Behind Alpaca's quote gate, a price move like a split is still seen and held.

Issue #13 A.3: "A drop whose ratio is near a split ratio ... is never harvested until the split
calendar for that day has been consulted -- hold the symbol, log why." Here Alpaca's split
calendar (`adapters.base.SplitCalendar`, its corporate actions) cannot be read, so the move
holds the symbol (test_alpaca_split_calendar.py has the calendar answering). Quotes far above
the trigger never reach the engine (`adapters.base.QuoteGating`), so the adapter tells the
engine the bid it held back last (`QuoteGating.held_back_bid`): the price before the move.
"""

from __future__ import annotations

import pytest
from alpacakit import Daemons, hold
from fake_alpaca import FakeAlpaca

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(("after", "held"), [("50.00", True), ("150.00", False)])
async def test_a_split_like_drop_from_above_the_gate_holds_the_symbol(
    fake: FakeAlpaca, daemons: Daemons, after: str, held: bool
) -> None:
    """VTI bid 400 (held back by the gate), then 50: 8:1 -- held, never harvested; a fall from
    400 to 150 (8:3) is no split ratio and is harvested."""
    hold(fake, "VTI", "40", "200")
    fake.fail_next("GET", "/v1/corporate-actions", 503, times=1_000)
    running = await daemons.start()
    await fake.wait_for_data_subscription("VTI")
    engine, seen = running.engine, running.broker.stocks.seen
    await fake.publish_quote("SCHB", "50.00", "50.02")
    await fake.publish_quote("VTI", "400.00", "400.04")
    await fake.wait_until(lambda: running.broker.stocks.seen >= seen + 2, what="the quotes")
    assert engine.quote_of("VTI") is not None  # held back, not handled

    handled = engine.stats.quotes
    await fake.publish_quote("VTI", after, f"{float(after) + 0.04:.2f}")
    # `on_quote` judges a quote in one synchronous step: counted means judged.
    await fake.wait_until(lambda: engine.stats.quotes > handled, what="the low quote")
    if not held:
        await fake.wait_until(lambda: engine.stats.harvests == 1, what="the harvest")
    assert ("VTI" in engine.split_holds) is held
    assert engine.stats.harvests == (0 if held else 1)
