"""Faults between the daemon and Alpaca: rejects, disconnects, crashes, garbage, strangers."""

from __future__ import annotations

import asyncio
import json

import msgpack
import pytest
import structlog
from alpaca.trading.client import TradingClient
from alpacakit import ACCOUNT, Daemons, Running, hold
from fake_alpaca import FakeAlpaca, FillPolicy

from adapters.storage.records import IntentKind, IntentStatus, JournalRecord

pytestmark = pytest.mark.timeout(60)


async def _harvest_order(fake: FakeAlpaca, running: Running) -> str:
    """Quote the substitute, let VTI fall through its threshold; return the sale's client id."""
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.00", "50.04")
    await fake.publish_quote("VTI", "180.00", "180.04")
    await fake.wait_until(lambda: len(fake.orders) >= 1, what="the harvest order")
    return fake.orders[0].client_order_id


def _vti_sales(journal: list[JournalRecord]) -> list[JournalRecord]:
    return [
        r
        for r in journal
        if r.symbol == "VTI" and r.action is not None and r.action.value == "SELL"
    ]


async def test_rejected_sale_ends_the_intent_without_fill_or_replacement(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue §5: a rejected order. Alpaca accepts the POST, then rejects the order on the
    stream: the intent ends REJECTED, nothing is journaled, no replacement is bought."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.REJECT, "VTI", reason="halted by the exchange")
    running = await daemons.start()
    cid = await _harvest_order(fake, running)

    await fake.wait_until(lambda: fake.order(cid).status == "rejected", what="the reject")
    await fake.wait_until(lambda: not running.daemon.orders.open_intents, what="intent closed")

    (sale,) = await running.intents(IntentKind.HARVEST_SELL)
    assert sale.status is IntentStatus.REJECTED
    assert sale.filled_quantity == 0
    assert _vti_sales(await running.journal()) == []
    assert [o.side for o in fake.orders] == ["sell"]
    assert running.engine.ledger.position(ACCOUNT, "VTI") == 40


async def test_fill_missed_during_a_disconnect_is_recovered_once_on_reconnect(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue §5/§4: a disconnect in the middle of an order. The first partial fill arrives on
    the stream, the rest while the socket is down; the reconnect reconciles: the missed fill is
    journaled exactly once and the replacement goes out."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.MANUAL, "VTI")
    running = await daemons.start()
    cid = await _harvest_order(fake, running)
    await fake.fill(cid, 15, "179.70")
    await fake.wait_until(
        lambda: running.engine.ledger.position(ACCOUNT, "VTI") == 25,
        what="the first partial fill journaled",
    )

    assert await fake.drop_trading_stream() == 1
    await fake.fill(cid, 25, "179.60")  # nobody listens: lost, as at Alpaca
    await fake.wait_for_connections("/stream", 2)
    await fake.wait_until(lambda: len(fake.orders) == 2, within=10, what="the replacement")
    assert running.daemon.reconciler is not None
    await running.daemon.reconciler.run("again")  # a second pass must not journal it again

    sales = _vti_sales(await running.journal())
    assert sorted(r.quantity for r in sales) == [15, 25]
    assert running.engine.ledger.position(ACCOUNT, "VTI") == 0
    assert fake.orders[1].side == "buy"
    assert fake.submissions == 2
    assert running.broker.stats.resyncs >= 1
    assert running.engine.halted == set()


async def test_daemon_killed_between_sale_and_replacement_resumes_without_duplicates(
    fake: FakeAlpaca, db_url: str, daemons: Daemons
) -> None:
    """Issue §5: the daemon is killed between the sale and the replacement; the sale fills
    while it is down. The restarted daemon sends no second sale, journals the fill once and
    still places the replacement (SQLite and PostgreSQL)."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.MANUAL, "VTI")
    first = await daemons.start(db_url)
    cid = await _harvest_order(fake, first)
    await first.kill()
    await fake.fill(cid, 40, "179.65")

    second = await daemons.start(db_url)
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.00", "50.04")
    await fake.wait_until(lambda: len(fake.orders) == 2, what="the replacement")
    await fake.wait_until(lambda: not fake.orders[1].is_open, what="the replacement filled")

    assert [(o.symbol, o.side) for o in fake.orders] == [("VTI", "sell"), ("SCHB", "buy")]
    assert fake.submissions == 2
    assert len(_vti_sales(await second.journal())) == 1
    (sale,) = await second.intents(IntentKind.HARVEST_SELL)
    assert (sale.status, sale.filled_quantity) == (IntentStatus.FILLED, 40)
    (replacement,) = await second.intents(IntentKind.REPLACEMENT_BUY)
    assert replacement.parent_intent_id == cid
    assert second.engine.halted == set()
    assert await second.daemon.repo.active_halts() == []


async def test_garbage_and_truncated_frames_are_counted_ignored_and_survived(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue §5/§4: garbage and truncated frames on both streams are logged and counted, never
    traded on, and the daemon keeps running and trading on good data."""
    hold(fake, "VTI", "40", "200")
    running = await daemons.start()
    await fake.wait_for_data_subscription("VTI")
    await fake.wait_for_trade_listener()
    bad_quote = {"T": "q", "S": "VTI", "bp": "cheap", "ap": 1.0, "t": 0}

    await fake.send_raw_data_frame(b"\xc1\x00garbage")
    await fake.send_raw_data_frame(msgpack.packb([{"T": "q", "S": "VTI", "bp": 1.0}])[:-3])
    await fake.send_raw_data_frame(msgpack.packb([bad_quote]))
    await fake.send_raw_trading_frame(b"{not json")
    await fake.send_raw_trading_frame(
        json.dumps({"stream": "trade_updates", "data": {"event": "fill", "qty": "40"}}).encode()
    )
    await fake.wait_until(lambda: running.broker.stats.malformed >= 2, what="malformed counted")
    await fake.wait_until(lambda: running.broker.sdk_errors.count >= 3, what="SDK errors seen")
    await fake.publish_quote("SCHB", "50.00", "50.04")
    await fake.publish_quote("VTI", "180.00", "180.04")
    await fake.wait_until(lambda: len(fake.orders) == 2, what="a harvest on good data")

    assert running.alive()
    assert running.engine.halted == set()
    assert running.broker.stats.malformed == 2
    assert fake.connections["/stream"] == 1
    assert fake.connections["/v2/iex"] == 1


async def test_position_unknown_to_the_ledger_halts_the_symbol_and_alerts(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue §2/§5: the broker holds 50 VTI but its history explains 40. Trading in VTI halts
    (engine and database), an error `reconcile_mismatch` is logged, and a quote far below the
    threshold sends no order: the mismatch is never "fixed" by trading."""
    hold(fake, "VTI", "40", "200", position="50")
    with structlog.testing.capture_logs() as logs:
        running = await daemons.start()
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.00", "50.04")
    seen = running.broker.stocks.seen
    await fake.publish_quote("VTI", "150.00", "150.04")
    await fake.wait_until(lambda: running.broker.stocks.seen > seen, what="the VTI quote")

    alerts = [e for e in logs if e["event"] == "reconcile_mismatch"]
    assert [(a["log_level"], a["symbol"], a["broker_qty"], a["ledger_qty"]) for a in alerts] == [
        ("error", "VTI", "50", "40")
    ]
    assert "VTI" in running.engine.halted
    assert [(h.symbol, h.account) for h in await running.daemon.repo.active_halts()] == [
        ("VTI", ACCOUNT)
    ]
    assert fake.orders == []
    assert fake.submissions == 0


async def test_manual_sale_beyond_the_ledger_halts_and_is_survived_across_a_restart(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Issue §4/§2: a sale made outside tlh of shares the history does not explain (45 of 50
    held, 40 known) is never journaled (the ledger could not replay it: every later start
    would fail); the symbol stays halted and the daemon keeps running, and starts again."""
    hold(fake, "VTI", "40", "200", position="50")
    running = await daemons.start()
    await fake.wait_for_trade_listener()
    fake.set_price("VTI", 180)
    client = TradingClient(fake.KEY, fake.SECRET, raw_data=True, url_override=fake.rest_url)
    body = {
        "symbol": "VTI",
        "qty": "45",
        "side": "sell",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": "manual-1",
    }

    await asyncio.to_thread(client.post, "/orders", body)
    await fake.wait_until(lambda: running.broker.stats.trade_updates >= 2, what="the fill")
    await fake.wait_until(lambda: not running.engine.queue, what="the fill handled")
    await running.close()
    again = await daemons.start(running.url)

    assert running.task is not None
    assert running.task.exception() is None
    assert _vti_sales(await again.journal()) == []
    assert again.engine.ledger.position(ACCOUNT, "VTI") == 40
    assert "VTI" in again.engine.halted
    assert again.alive()
