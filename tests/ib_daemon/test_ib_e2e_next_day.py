"""An order sent on an earlier day that IB no longer knows is never sent again.

IB's order look-ups reach the current day only: open and completed orders, and
``reqExecutions`` ("Executions and Commissions", TWS API: "only the current day's
executions"), so after TWS's daily restart yesterday's order is unknown whatever became of it
(``Capabilities.order_lookup == "today"``). Issue #9 §2/§3: "a retry or restart never places a
second order for an intent". The daemon that restarts the next day therefore ends such an
intent EXPIRED, halts its symbol (persisted), and names the Flex statement that tells what
happened (`tlh import --ib-flex`). Each test runs day one against one fake TWS and day two
against a fresh one (the next day's TWS), the daemon's clock a day ahead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fake_tws import FakeTWS, FillPolicy
from ibdaemonkit import (
    SYMBOLS,
    CrashBeforePlacing,
    Daemons,
    crossing_quotes,
    flex_statement,
    placed,
    seed_journal,
    tlh,
    tlh_env,
    until,
)

from adapters.storage.records import IntentKind, IntentStatus
from daemon.events import OrderSide

pytestmark = pytest.mark.timeout(60)


async def _next_day(daemons: Daemons, kind: IntentKind, symbol: str, held: dict[str, str]) -> None:
    """Restart the daemon a day later against a fresh TWS holding `held`; check it sent
    nothing, ended the `kind` intent and halted `symbol`."""
    async with FakeTWS(symbols=SYMBOLS) as tomorrow:
        tomorrow.set_time(datetime.now(UTC) + timedelta(days=1))
        for name, quantity in held.items():
            tomorrow.set_position(name, quantity, "200")
        second = await daemons.start(tws=tomorrow, days=1)
        try:
            (intent,) = await second.intents(kind)
            assert intent.status is IntentStatus.EXPIRED
            assert "tlh import --ib-flex" in intent.reason
            assert second.daemon.orders.open_intents == []
            assert symbol in second.engine.halted
            (halt,) = await second.daemon.repo.active_halts()
            assert halt.symbol == symbol
            assert intent.intent_id in halt.reason
            assert "--ib-flex" in halt.reason
            assert placed(tomorrow) == {}
        finally:
            await second.kill()


@pytest.mark.parametrize("placed_first", [True, False], ids=["placed-working", "stored-only"])
async def test_a_replacement_buy_of_yesterday_unknown_to_ib_is_never_bought_again(
    tws: FakeTWS, daemons: Daemons, placed_first: bool
) -> None:
    """The sale filled and the replacement buy was sent (it reached TWS, or the daemon died
    between storing its intent and ``placeOrder``: either way it is SUBMITTED or later). The
    next day's daemon cannot tell whether it filled, so it buys nothing and halts SCHB."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    tws.set_fill_policy(FillPolicy(mode="hold"), symbol="SCHB")
    first = await daemons.start()
    crash = None
    if not placed_first:
        crash = CrashBeforePlacing(first.broker, lambda order: order.side is OrderSide.BUY)
    await crossing_quotes(tws)
    if crash is None:
        await tws.wait_until(lambda: len(tws.orders) == 2)
    else:
        await until(crash.reached.is_set, what="the replacement about to be placed")
    await until(lambda: first.position("VTI") == 0, what="the sale journaled")
    await first.kill()

    await _next_day(daemons, IntentKind.REPLACEMENT_BUY, "SCHB", {})


async def test_a_sale_of_yesterday_unknown_to_ib_is_halted_not_called_stale(
    tws: FakeTWS, daemons: Daemons
) -> None:
    """A sale stored SUBMITTED yesterday may have been placed and filled: the next day's
    daemon neither sends it again nor cancels it as never sent, but halts VTI until the Flex
    statement is imported."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    first = await daemons.start()
    crash = CrashBeforePlacing(first.broker, lambda order: order.side is OrderSide.SELL)
    await crossing_quotes(tws)
    await until(crash.reached.is_set, what="the sale about to be placed")
    await first.kill()

    await _next_day(daemons, IntentKind.HARVEST_SELL, "VTI", {"VTI": "40"})


async def test_yesterdays_buy_whose_flex_statement_was_imported_ends_filled_and_unhalted(
    tws: FakeTWS, daemons: Daemons, tmp_path: Path
) -> None:
    """The replacement buy filled after the daemon died; that day's Flex statement, imported
    before the next day's start, journaled it (tests/ib_daemon/test_ib_e2e_flex_repair.py).
    The journal then holds all of the intent: the next day's daemon ends it FILLED, sends
    nothing, and halts nothing."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    tws.set_fill_policy(FillPolicy(mode="hold"), symbol="SCHB")
    first = await daemons.start()
    await crossing_quotes(tws)
    await tws.wait_until(lambda: len(tws.orders) == 2)
    await until(lambda: first.position("VTI") == 0, what="the sale journaled")
    await first.kill()
    buy = tws.orders[1]
    await tws.fill(buy.order_ref, price="50.04")
    env = tlh_env(tws, tmp_path, TLH_DATABASE__URL=daemons.url)
    code, out = await tlh(env, tmp_path, "import", "--ib-flex", str(flex_statement(tws, tmp_path)))
    assert code == 0, out

    async with FakeTWS(symbols=SYMBOLS) as tomorrow:
        tomorrow.set_time(datetime.now(UTC) + timedelta(days=1))
        tomorrow.set_position("SCHB", buy.qty, "50.04")
        second = await daemons.start(tws=tomorrow, days=1)
        try:
            (intent,) = await second.intents(IntentKind.REPLACEMENT_BUY)
            assert (intent.status, intent.filled_quantity) == (
                IntentStatus.FILLED,
                Decimal(buy.qty),
            )
            assert second.position("SCHB") == Decimal(buy.qty)
            assert second.engine.halted == set()
            assert await second.daemon.repo.active_halts() == []
            assert placed(tomorrow) == {}
        finally:
            await second.kill()
