"""Issue #13 A.4, A.4b, A.7: what the one decision lets a harvest do, in the running daemon.

* A.4b: the wash guard asks the ledger's own matching (`Ledger.wash_replacements`), so a lot's
  own purchase never blocks its harvest (convention 2), while another identical lot bought
  within 30 days still does (IRC §1091(a)).
* A.4: a harvest starts only with its replacement priced and allowed, is re-checked when the
  replacement is sent, and its whole proceeds are invested.
* A.7: a harvest above `max_order_notional` is split into orders within it.

Household: VTI in a taxable account; substitutes VTI -> SCHB -> ITOT (daemonkit).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from daemonkit import TAXABLE, Rig, Rigs, make_settings
from typer.testing import CliRunner

from adapters.base import LotRelief
from adapters.storage.records import IntentKind, IntentStatus
from daemon.cli import _register, app
from daemon.events import Quote
from ledger.conventions import LotMethod
from ledger.model import Action

CENT = Decimal("0.01")


async def test_a_lot_bought_5_days_ago_whose_price_fell_is_harvested(rig: Rig) -> None:
    """Convention 2 (`own_lot_replaces = false`): a lot's own shares never replace it, so the
    ledger does not wash its sale 5 days after its purchase; a new account harvests in its
    first 30 days (the guard refused: "identical security bought within 30 days")."""
    lot = await rig.hold("VTI", "40", "200", day=rig.today() - timedelta(days=5))
    await rig.quote("SCHB", 50.00)

    await rig.quote("VTI", 180.00)

    assert (await rig.intent(rig.harvest_id("VTI", lot))).status is IntentStatus.FILLED
    (sold,) = rig.ledger.sales
    assert (sold.lot_id, sold.washed) == (lot, False)


async def test_another_lot_bought_within_30_days_still_blocks(rig: Rig) -> None:
    """IRC §1091(a): the 5 VTI bought 5 days ago in another taxable account of the household,
    kept, would replace shares of the old lot sold at a loss: the daemon does not harvest the
    old lot, and says which lot blocks it."""
    old = await rig.hold("VTI", "40", "200")
    recent = await rig.hold(
        "VTI", "5", "181", account="spouse", day=rig.today() - timedelta(days=5)
    )
    await rig.quote("SCHB", 50.00)

    await rig.quote("VTI", 180.00)

    assert rig.broker.submissions == 0
    assert await rig.repo.get_intent(rig.harvest_id("VTI", old)) is None
    (reason,) = [r for _a, _s, r in rig.engine.stats.distinct_skips]
    assert reason.startswith("wash_guard: ")
    assert recent in reason


async def test_at_a_fifo_broker_a_newer_lot_blocks_the_older_alone_or_with_it(
    rigs: Rigs,
) -> None:
    """At a broker that relieves FIFO (Alpaca), a sale of the old lot alone leaves the new one
    as its replacement, and a sale of both relieves the old lot first, while the new one is
    still held (convention 3): the ledger washes either, so neither is harvested."""
    rig = await rigs.open(start=False)
    rig.broker.capabilities = replace(
        rig.broker.capabilities, lot_relief=LotRelief(specific_lots=False, method=LotMethod.FIFO)
    )
    await rig.engine.start()
    await rig.hold("VTI", "40", "200")
    recent = await rig.hold("VTI", "5", "190", day=rig.today() - timedelta(days=5))
    await rig.quote("SCHB", 50.00)

    await rig.quote("VTI", 180.00)

    assert rig.broker.submissions == 0
    (reason,) = [r for _a, _s, r in rig.engine.stats.distinct_skips]
    assert reason.startswith("wash_guard: ")
    assert recent in reason


async def test_no_harvest_while_the_replacement_has_no_price(rig: Rig) -> None:
    """Issue A.4: "SPY was sold while its substitute IVV had no price ... A harvest may start
    only when its replacement is priced". Neither SCHB nor ITOT is quoted: VTI is kept."""
    lot = await rig.hold("VTI", "40", "200")

    await rig.quote("VTI", 180.00)

    assert rig.broker.submissions == 0
    assert await rig.repo.get_intent(rig.harvest_id("VTI", lot)) is None
    assert rig.engine.stats.skips == {"no_replacement": 1}
    assert rig.ledger.position(TAXABLE, "VTI") == 40


async def test_a_replacement_refused_when_sent_gives_way_to_the_next_allowed_member(
    rig: Rig,
) -> None:
    """Issue A.4: "re-check the replacement with the guard when it is sent". While the VTI sale
    rests at the broker, SCHB is sold at a loss (IRC §1091(a): buying SCHB now would wash it),
    so the filled sale buys ITOT, the next allowed member, instead."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await rig.quote("ITOT", 100.00)
    await rig.deliver(Quote("VTI", 180.00, 180.04, rig.clock.now()))  # no market: it rests
    await rig.record(Action.BUY, "SCHB", "10", "60", day=rig.today() - timedelta(days=60))
    await rig.record(Action.SELL, "SCHB", "10", "50", day=rig.today())

    rig.market("VTI", 180.00)
    rig.broker.fill_open_orders()
    await rig.engine.drain()

    sale_id = rig.harvest_id("VTI", lot)
    assert (await rig.intent(sale_id)).payload["replacement"] == "SCHB"
    buys = await rig.buys_of(sale_id)
    assert {b.symbol for b in buys} == {"ITOT"}
    assert not any(row.washed for row in rig.ledger.sales)


async def test_the_remainder_in_cash_is_below_a_cent_with_fractional_shares(rig: Rig) -> None:
    """Issue A.4: "0.2 % of every harvest is left uninvested -- invest the remainder". The
    replacement is limited at the ask + 0.2 %; what its fill leaves is bought too, never more
    than the proceeds."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)

    await rig.quote("VTI", 180.00)

    sale = await rig.intent(rig.harvest_id("VTI", lot))
    spent = sum((b.filled_notional for b in await rig.buys_of(sale.intent_id)), Decimal(0))
    assert Decimal(0) <= sale.filled_notional - spent < CENT


async def test_the_remainder_in_cash_is_below_one_share_with_whole_shares(rigs: Rigs) -> None:
    """Issue A.4, without fractional shares: what is left is less than one share's price."""
    rig = await rigs.open(fractional=False)
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)

    await rig.quote("VTI", 180.00)

    sale = await rig.intent(rig.harvest_id("VTI", lot))
    buys = await rig.buys_of(sale.intent_id)
    assert all(b.quantity == b.quantity.to_integral_value() for b in buys)
    spent = sum((b.filled_notional for b in buys), Decimal(0))
    assert Decimal(0) <= sale.filled_notional - spent < Decimal("50.04")


async def test_a_15000_position_is_harvested_within_the_default_10000_limit(rig: Rig) -> None:
    """Issue A.7: "With the default `max_order_notional` of $10,000, a $15,000 position was
    never harvested". It is sold in two orders of 50 shares and replaced by buys each within
    the limit, all of the proceeds invested."""
    assert rig.settings.risk.max_order_notional == Decimal(10_000)
    await rig.hold("VTI", "100", "170")
    await rig.quote("SCHB", 50.00, 50.04)

    await rig.quote("VTI", 150.00)

    sales = await rig.repo.intents_of_kind(IntentKind.HARVEST_SELL)
    assert sorted(s.quantity for s in sales) == [Decimal(50), Decimal(50)]
    assert all(s.status is IntentStatus.FILLED for s in sales)
    assert rig.ledger.position(TAXABLE, "VTI") == 0
    assert rig.engine.stats.harvests == 1
    buys = await rig.repo.intents_of_kind(IntentKind.REPLACEMENT_BUY)
    assert all(b.quantity * (b.limit_price or 0) <= Decimal(10_000) for b in buys)
    proceeds = sum((s.filled_notional for s in sales), Decimal(0))
    spent = sum((b.filled_notional for b in buys), Decimal(0))
    assert Decimal(0) <= proceeds - spent < 2 * CENT
    assert not rig.orders.denials


async def test_a_denied_harvest_is_reported(rigs: Rigs) -> None:
    """Issue A.7: "report every risk denial": one share above `max_order_notional` cannot be
    split further; the denial is kept for the summaries, with its reason."""
    rig = await rigs.open(settings=make_settings(risk={"max_order_notional": 100}))
    await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)

    await rig.quote("VTI", 180.00)

    (denied,) = rig.orders.denials
    assert denied.status is IntentStatus.DENIED
    assert "max_order_notional" in denied.reason


async def test_tlh_status_shows_the_denials(rigs: Rigs, sqlite_url: str, tmp_path: Path) -> None:
    """Issue A.7: "report every risk denial in ... `tlh status`": how many, by which limit, and
    the latest with its reason."""
    rig = await rigs.open(sqlite_url, settings=make_settings(risk={"max_order_notional": 100}))
    await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await rig.quote("VTI", 180.00)
    config = tmp_path / "tlh.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n')

    _register()
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["status", "--config", str(config)], env={"COLUMNS": "250"}
    )

    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.output.splitlines() if "orders denied" in line]
    assert "1 by max_order_notional; latest: VTI on 2024-03-04: risk: order notional" in row


async def _top_up_waiting(rigs: Rigs) -> tuple[Rig, str]:
    """Harvest VTI into SCHB with SCHB's quote going stale once the replacement is sent, so
    the top-up of what it left waits for a quote; return the rig and the sale's intent id."""
    rig = await rigs.open()
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)
    rig.broker.after_submit = lambda order: (
        rig.broker.stale_feed.update({"SCHB", "ITOT"}) if order.symbol == "SCHB" else None
    )
    await rig.quote("VTI", 180.00)
    sale_id = rig.harvest_id("VTI", lot)
    rig.broker.after_submit = lambda order: None
    rig.broker.stale_feed.clear()
    return rig, sale_id


async def test_a_top_up_a_stop_interrupted_is_bought_after_the_restart(rigs: Rigs) -> None:
    """Crash-only: the replacement filled, the top-up of what it left waited for a quote, and
    the daemon stopped. The restarted daemon buys the top-up once SCHB is quoted again."""
    rig, sale_id = await _top_up_waiting(rigs)
    assert len(await rig.buys_of(sale_id)) == 1
    assert rig.orders.awaiting_quotes == {"SCHB"}

    rig = await rigs.restart(rig)
    await rig.quote("SCHB", 50.00, 50.04)

    sale = await rig.intent(sale_id)
    buys = await rig.buys_of(sale_id)
    assert [b.status for b in buys] == [IntentStatus.FILLED] * 2
    spent = sum((b.filled_notional for b in buys), Decimal(0))
    assert Decimal(0) <= sale.filled_notional - spent < CENT


async def test_a_top_up_interrupted_four_days_ago_is_still_bought_after_the_restart(
    rigs: Rigs,
) -> None:
    """daemon/orders.py `_resume_top_ups`: the buys of proceeds are continued while their
    trade date is within REPLACEMENT_QUOTE_MAX_AGE of today, edge included. The outbox is
    read by creation time (an index), so a buy created earlier in the day than the restart
    four days on must still be found."""
    rig, sale_id = await _top_up_waiting(rigs)
    rig.advance(days=4, hours=5)

    rig = await rigs.restart(rig)
    await rig.quote("SCHB", 50.00, 50.04)

    buys = await rig.buys_of(sale_id)
    assert [b.status for b in buys] == [IntentStatus.FILLED] * 2


async def test_proceeds_above_the_limit_are_invested_in_orders_within_it(rigs: Rigs) -> None:
    """Issue A.7: "Split a harvest (and its replacement) into orders within the limit". The
    sale was sized at the bid the daemon saw ($180: two orders of 20 shares within $5,000) but
    fills higher ($260): each part's $5,200 is bought back in orders of at most $5,000."""
    rig = await rigs.open(settings=make_settings(risk={"max_order_notional": 5_000}))
    await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)
    rig.market("VTI", 260.00)

    await rig.deliver(Quote("VTI", 180.00, 180.04, rig.clock.now()))

    sales = await rig.repo.intents_of_kind(IntentKind.HARVEST_SELL)
    assert [(s.quantity, s.filled_notional) for s in sales] == [(20, Decimal(5200))] * 2
    for sale in sales:
        buys = await rig.buys_of(sale.intent_id)
        assert len(buys) == 2
        assert all(b.quantity * (b.limit_price or 0) <= Decimal(5_000) for b in buys)
        spent = sum((b.filled_notional for b in buys), Decimal(0))
        assert Decimal(0) <= sale.filled_notional - spent < CENT
