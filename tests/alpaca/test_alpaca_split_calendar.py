"""Alpaca's corporate actions are the live split calendar, and the ledger follows its splits.

Issue #13 A.3: "A drop whose ratio is near a split ratio ... is never harvested until the split
calendar for that day has been consulted (... the broker's corporate actions live) -- hold the
symbol, log why." The adapter answers `adapters.base.SplitCalendar` from Alpaca's market-data
``GET /v1/corporate-actions`` (forward_splits / reverse_splits, ``new_rate`` for ``old_rate`` on
the ``ex_date``), and reports the splits in effect to the reconciliation
(`adapters.base.SplitReports`), which journals them before it compares positions: Alpaca has
applied them to the account already.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import structlog
from alpacakit import ACCOUNT, Daemons, Running, Sink, hold, make_broker
from fake_alpaca import FakeAlpaca

from adapters.storage.records import JournalEntry, JournalKind
from daemon.events import SplitEvent

pytestmark = pytest.mark.timeout(60)
CALENDAR = "/v1/corporate-actions"


def today() -> datetime:
    """Return now in New York (the day a split takes effect)."""
    return datetime.now(UTC).astimezone(ZoneInfo("America/New_York"))


async def move(fake: FakeAlpaca, running: Running, before: str, after: str) -> None:
    """Publish a VTI quote at `before`, then one at `after`, and wait until both are judged."""
    engine = running.engine
    seen = running.broker.stocks.seen
    await fake.publish_quote("VTI", before, f"{Decimal(before) + Decimal('0.04')}")
    await fake.wait_until(lambda: running.broker.stocks.seen > seen, what="the first quote")
    handled = engine.stats.quotes
    await fake.publish_quote("VTI", after, f"{Decimal(after) + Decimal('0.04')}")
    # `on_quote` judges a quote in one synchronous step: counted means judged.
    await fake.wait_until(lambda: engine.stats.quotes > handled, what="the second quote")


async def test_a_split_in_the_calendar_is_journaled_and_its_drop_never_harvested(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """40 VTI bought at 200; Alpaca split them 4:1 today (160 shares). The split is journaled
    before positions are compared (no mismatch, no halt), the 200 -> 48 drop (4:1 like) is
    explained and released, and nothing is sold: the lots' basis is 50 a share now, and 4 %
    is below the 5 % threshold."""
    hold(fake, "VTI", "40", "200", position="160")
    fake.add_split("VTI", 4, 1, today().date())
    running = await daemons.start()
    await fake.wait_for_data_subscription("VTI")
    await move(fake, running, "200.00", "48.00")

    engine = running.engine
    splits = [r for r in await running.journal() if r.kind is JournalKind.SPLIT]
    assert [(s.symbol, s.ratio, s.trade_date) for s in splits] == [
        ("VTI", Decimal(4), today().date())
    ]
    assert engine.ledger.positions() == {(ACCOUNT, "VTI"): Decimal(160)}
    assert engine.halted == set()
    assert running.daemon.reconciler is not None
    assert running.daemon.reconciler.mismatches == {}
    assert "VTI" not in engine.split_holds
    assert engine.stats.harvests == 0
    assert fake.submissions == 0


async def test_a_real_halving_with_no_split_in_the_calendar_is_harvested(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """40 VTI bought at 200 fall to 100 (a 2:1 ratio), and the calendar shows no split near
    today: a real loss, harvested once the calendar has answered."""
    hold(fake, "VTI", "40", "200")
    fake.add_split("VTI", 2, 1, datetime(2020, 6, 1).date())  # long ago: not near the move
    running = await daemons.start()
    await fake.wait_for_data_subscription("VTI")
    await fake.publish_quote("SCHB", "50.00", "50.02")
    await move(fake, running, "200.00", "100.00")

    await fake.wait_until(lambda: running.engine.stats.harvests == 1, what="the harvest")
    assert "VTI" not in running.engine.split_holds
    assert any(r.path == CALENDAR for r in fake.requests)
    assert [r for r in await running.journal() if r.kind is JournalKind.SPLIT] == []


async def test_a_failing_calendar_keeps_the_symbol_held_and_is_logged_once(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """The corporate-actions endpoint answers HTTP 500: a 2:1 drop stays held (it may be a
    split the ledger has not applied), nothing is sold, and the failure is logged once however
    often the calendar is asked."""
    hold(fake, "VTI", "40", "200")
    fake.fail_next("GET", CALENDAR, 500, times=1_000)
    with structlog.testing.capture_logs() as logs:
        running = await daemons.start()
        await fake.wait_for_data_subscription("VTI")
        await fake.publish_quote("SCHB", "50.00", "50.02")
        await move(fake, running, "200.00", "100.00")
        engine = running.engine
        for n, bid in enumerate(("99.00", "98.00"), start=engine.stats.quotes + 1):
            await fake.publish_quote("VTI", bid, f"{Decimal(bid) + Decimal('0.04')}")
            await fake.wait_until(lambda n=n: engine.stats.quotes >= n, what="a later quote")
        reconciler = running.daemon.reconciler
        assert reconciler is not None
        running.broker.request_resync("a reconnect: the calendar is asked again")
        await fake.wait_until(lambda: reconciler.passes == 2, what="the second pass")

    assert "VTI" in engine.split_holds
    assert engine.stats.harvests == 0
    assert fake.submissions == 0
    assert len([r for r in fake.requests if r.path == CALENDAR]) >= 2
    failures = [e for e in logs if e["event"] == "alpaca_split_calendar_failed"]
    assert [(e["log_level"], e["symbols"]) for e in failures] == [("warning", ["VTI"])]


async def test_a_split_journaled_already_from_another_source_is_not_journaled_again(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """The journal holds today's 4:1 VTI split from an import (another external id); when
    Alpaca reports the same split, it is not applied a second time: 160 shares, not 640, and
    no mismatch (issue #13 A.3: splits are journaled "since the last journaled split")."""
    hold(fake, "VTI", "40", "200")
    first = await daemons.start()
    day = today().date()
    entry = JournalEntry.split(
        symbol="VTI", ratio=Decimal(4), trade_date=day, source="import", external_id="import:1"
    )
    assert await first.daemon.repo.append_journal([entry])
    await first.kill()
    fake.set_position("VTI", "160", "50")
    fake.add_split("VTI", 4, 1, day)

    running = await daemons.start()

    splits = [r for r in await running.journal() if r.kind is JournalKind.SPLIT]
    assert [(s.symbol, s.external_id) for s in splits] == [("VTI", "import:1")]
    assert running.engine.ledger.positions() == {(ACCOUNT, "VTI"): Decimal(160)}
    assert running.engine.halted == set()


async def test_a_split_in_effect_for_a_watched_symbol_is_emitted_once(fake: FakeAlpaca) -> None:
    """While running, the calendar fetched on subscribe (and each day) emits a `SplitEvent` for
    a watched symbol's split in effect today, once however often it is fetched; a split
    announced for next week is not emitted yet, and an unwatched symbol's never."""
    day = today().date()
    fake.add_split("VTI", 4, 1, day)
    fake.add_split("SCHB", 3, 1, day + timedelta(days=7))
    fake.add_split("ITOT", 2, 1, day)
    broker, sink = make_broker(fake), Sink()
    try:
        await broker.connect(sink)
        await broker.subscribe({"VTI", "SCHB"})
        await fake.wait_until(lambda: sink.of(SplitEvent), what="the split")
        await broker.subscribe({"SCHB"})
        await broker.subscribe({"VTI", "SCHB"})  # VTI's calendar is fetched again
        await fake.wait_until(
            lambda: (
                len([r for r in fake.requests if r.path == CALENDAR]) >= 2
                and not broker._split_fetching
            ),
            what="the second fetch",
        )
        assert await broker.splits_due({"VTI"}) == sink.of(SplitEvent)
    finally:
        await broker.close()

    assert [(e.symbol, e.ratio, e.at.date()) for e in sink.of(SplitEvent)] == [
        ("VTI", Decimal(4), day)
    ]
