"""Alpaca's non-trade activities reach the ledger instead of halting the symbol (issue #11 §4).

"Alpaca's account activities beyond FILL — splits, reverse splits, mergers, spin-offs, symbol
changes, cash dividends, dividend reinvestment, journal/ACATS transfers — are imported and
applied to the ledger instead of halting the symbol as a mismatch; a type the daemon does not
understand still halts it, with the activity named in the halt." Alpaca books a reorganization
as a removal (negative ``qty``) and an addition the same day (its docs, of ``NC``); the fake
serves them through ``GET /v2/account/activities`` to the real alpaca-py client.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from alpacakit import ACCOUNT, Daemons, Running, fill_activity, hold, make_settings
from fake_alpaca import FakeAlpaca

from adapters.storage.records import JournalKind
from daemon.journal_replay import replay

pytestmark = pytest.mark.timeout(60)
NEW_YORK = ZoneInfo("America/New_York")
DAY = datetime.now(UTC) - timedelta(days=3)


def lots(running: Running, symbol: str) -> list[tuple[str, Decimal, Decimal]]:
    engine = running.engine
    return [
        (lot.lot_id, lot.quantity, lot.cost_basis)
        for lot in engine.ledger.open_lots()
        if lot.symbol == symbol
    ]


async def halts(running: Running) -> dict[str, str]:
    repo = running.daemon.repo
    return {h.symbol: h.reason for h in await repo.active_halts()}


async def test_a_symbol_change_carries_the_lots_and_reconciles_without_a_halt(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """FB -> META one for one (two NC entries): the ledger holds the lot as META."""
    hold(fake, "FB", "10", "250")
    fake.reorganize("NC", "FB", "10", "META", "10", when=DAY)
    running = await daemons.start()
    assert running.engine.ledger.positions() == {(ACCOUNT, "META"): Decimal(10)}
    assert [(q, c) for _id, q, c in lots(running, "META")] == [(Decimal(10), Decimal("2500.00"))]
    assert await halts(running) == {}
    kinds = [r.kind for r in await running.journal()]
    assert kinds.count(JournalKind.CONVERSION) == 1


async def test_a_stock_merger_converts_at_its_ratio(fake: FakeAlpaca, daemons: Daemons) -> None:
    """Two ACQ for each TGT (two MA entries): 20 ACQ with the 10 TGT's basis."""
    hold(fake, "TGT", "10", "40")
    fake.reorganize("MA", "TGT", "10", "ACQ", "20", when=DAY)
    running = await daemons.start()
    assert [(q, c) for _id, q, c in lots(running, "ACQ")] == [(Decimal(20), Decimal("400.00"))]
    assert await halts(running) == {}


async def test_a_cash_merger_is_a_sale(fake: FakeAlpaca, daemons: Daemons) -> None:
    """TGT bought out at 55 a share: the 10 shares are sold for 550, and none are held."""
    hold(fake, "TGT", "10", "40")
    fake.add_activity("MA", when=DAY, symbol="TGT", qty="-10", net_amount="550")
    fake.set_position("TGT", 0, 0)
    running = await daemons.start()
    (row,) = running.engine.ledger.sales
    assert (row.quantity, row.proceeds, row.cost_basis) == (
        Decimal(10),
        Decimal("550.00"),
        Decimal("400.00"),
    )
    assert await halts(running) == {}


async def test_a_spin_off_with_its_basis_fraction_makes_lots_of_the_new_symbol(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """One SOLV per four MMM; `[alpaca] spin_off_basis` gives SOLV 8.32 % of the basis."""
    hold(fake, "MMM", "40", "150")
    fake.add_activity("SPIN", when=DAY, symbol="MMM", qty="0")
    fake.add_activity("SPIN", when=DAY, symbol="SOLV", qty="10")
    fake.set_position("SOLV", "10", "49.92")
    settings = make_settings(fake)
    alpaca = settings.alpaca.model_copy(update={"spin_off_basis": {"SOLV": Decimal("0.0832")}})
    running = await daemons.start(settings=settings.model_copy(update={"alpaca": alpaca}))
    assert [(q, c) for _id, q, c in lots(running, "SOLV")] == [(Decimal(10), Decimal("499.20"))]
    assert [(q, c) for _id, q, c in lots(running, "MMM")] == [(Decimal(40), Decimal("5500.80"))]
    assert await halts(running) == {}


async def test_a_spin_off_without_its_basis_fraction_halts_naming_it(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """The daemon does not guess the allocation: both symbols halt, the activity named."""
    hold(fake, "MMM", "40", "150")
    fake.add_activity("SPIN", when=DAY, symbol="MMM", qty="0")
    child = fake.add_activity("SPIN", when=DAY, symbol="SOLV", qty="10")
    fake.set_position("SOLV", "10", "49.92")
    running = await daemons.start()
    reasons = await halts(running)
    assert child["id"] in reasons["SOLV"]
    assert "spin_off_basis" in reasons["MMM"]


async def test_an_unknown_activity_on_a_held_symbol_halts_it_naming_type_and_id(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    hold(fake, "VTI", "10", "200")
    odd = fake.add_activity("OPASN", when=DAY, symbol="VTI", qty="-1")
    running = await daemons.start()
    reason = (await halts(running))["VTI"]
    assert "OPASN" in reason
    assert odd["id"] in reason


async def test_dividends_reinvestment_and_a_transfer_in_with_basis(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """A cash dividend changes no lot; a reinvested one buys shares (a lot the wash guard
    sees); an ACATS transfer carrying basis and date becomes a lot with that date."""
    hold(fake, "VTI", "10", "200", position="13.5")
    fake.add_activity("DIV", when=DAY, symbol="VTI", qty="10", net_amount="9.00")
    fake.add_activity(
        "DIV",
        when=DAY,
        symbol="VTI",
        qty="0.5",
        per_share_amount="210",
        net_amount="-105",
        description="DRIP reinvestment",
    )
    fake.add_activity(
        "ACATS",
        when=DAY,
        symbol="VTI",
        qty="3",
        cost_basis="450",
        acquisition_date="2020-02-03",
    )
    running = await daemons.start()
    assert running.engine.ledger.positions() == {(ACCOUNT, "VTI"): Decimal("13.5")}
    assert running.engine.ledger.last_purchase("VTI") == DAY.astimezone(NEW_YORK).date()
    assert "2020-02-03" in {str(lot.acquired) for lot in running.engine.ledger.open_lots()}
    assert await halts(running) == {}


async def test_a_transfer_in_without_basis_halts_and_says_to_import(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    hold(fake, "VTI", "10", "200", position="13")
    fake.add_activity("JNLS", when=DAY, symbol="VTI", qty="3")
    running = await daemons.start()
    assert "tlh import" in (await halts(running))["VTI"]


async def test_an_acats_transfer_out_relieves_lots_without_a_sale(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """ACATS out (qty negative) of 6 of 10 VTI: a transfer, not a sale (IRC §1001(a)): the
    oldest lot gives its 6 shares (FIFO), no sale row is made, the 4 left reconcile with the
    broker's position and nothing halts."""
    hold(fake, "VTI", "6", "200", position="4")
    hold(fake, "VTI", "4", "210", when=DAY - timedelta(days=30), position="4")
    fake.add_activity("ACATS", when=DAY, symbol="VTI", qty="-6")
    running = await daemons.start()
    ledger = running.engine.ledger
    assert ledger.positions() == {(ACCOUNT, "VTI"): Decimal(4)}
    assert [(q, c) for _id, q, c in lots(running, "VTI")] == [(Decimal(4), Decimal("840.00"))]
    assert ledger.sales == []
    assert await halts(running) == {}
    kinds = [r.kind for r in await running.journal()]
    assert kinds.count(JournalKind.TRANSFER) == 1


async def test_a_journal_out_of_more_than_is_held_halts_naming_it(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """JNLS out of 12 VTI when the ledger holds 10: refused as a sale of more than is held
    would be; the symbol halts with the activity named, and nothing is journaled."""
    hold(fake, "VTI", "10", "200", position="0")
    jnls = fake.add_activity("JNLS", when=DAY, symbol="VTI", qty="-12")
    running = await daemons.start()
    reason = (await halts(running))["VTI"]
    assert jnls["id"] in reason
    assert "transfers 12 but only 10 held" in reason
    kinds = [r.kind for r in await running.journal()]
    assert JournalKind.TRANSFER not in kinds


async def test_reconciling_again_journals_nothing_twice(fake: FakeAlpaca, daemons: Daemons) -> None:
    hold(fake, "FB", "10", "250")
    fake.reorganize("NC", "FB", "10", "META", "10", when=DAY)
    running = await daemons.start()
    before = len(await running.journal())
    assert running.daemon.reconciler is not None
    await running.daemon.reconciler.run("test: again")
    assert len(await running.journal()) == before
    assert await halts(running) == {}


async def test_a_split_reported_by_the_calendar_and_the_activities_applies_once(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """4:1 on VTI, in the corporate-actions calendar and as SPLIT activities: 160 shares."""
    hold(fake, "VTI", "40", "200")
    day = DAY.astimezone(NEW_YORK).date()
    fake.add_split("VTI", 4, 1, day)
    fake.reorganize("SPLIT", "VTI", "40", "VTI", "160", when=DAY)
    running = await daemons.start()
    splits = [r for r in await running.journal() if r.kind is JournalKind.SPLIT]
    assert len(splits) == 1
    assert running.engine.ledger.positions() == {(ACCOUNT, "VTI"): Decimal(160)}
    assert await halts(running) == {}


async def test_a_split_booked_days_after_the_calendars_ex_date_applies_once(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """4:1 on VTI, journaled from the calendar on its ex-date; Alpaca books the SPLIT
    activities two days later (the pay date), after that pass. A split of the same symbol and
    ratio within `ledger.model.SPLIT_MATCH_DAYS` of a journaled one is that split: 160
    shares, not 640."""
    hold(fake, "VTI", "40", "200", position="160")
    fake.add_split("VTI", 4, 1, DAY.astimezone(NEW_YORK).date())
    running = await daemons.start()
    assert running.engine.ledger.positions() == {(ACCOUNT, "VTI"): Decimal(160)}
    fake.reorganize("SPLIT", "VTI", "40", "VTI", "160", when=DAY + timedelta(days=2))
    assert running.daemon.reconciler is not None
    await running.daemon.reconciler.run("test: the activities booked")
    splits = [r for r in await running.journal() if r.kind is JournalKind.SPLIT]
    assert len(splits) == 1
    assert running.engine.ledger.positions() == {(ACCOUNT, "VTI"): Decimal(160)}
    assert await halts(running) == {}


async def test_a_spin_off_halted_for_its_basis_applies_once_the_basis_is_set(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """The spin-off halts without `[alpaca] spin_off_basis`; a dividend two days later must
    not move the activity watermark past it: once the user sets the basis and restarts, the
    spin-off is read again and splits the parent's basis (else MMM keeps its whole basis and
    a loss that does not exist could be harvested)."""
    hold(fake, "MMM", "40", "150")
    spun = DAY - timedelta(days=2)
    fake.add_activity("SPIN", when=spun, symbol="MMM", qty="0")
    fake.add_activity("SPIN", when=spun, symbol="SOLV", qty="10")
    fake.set_position("SOLV", "10", "49.92")
    fake.add_activity("DIV", when=DAY, symbol="MMM", qty="40", net_amount="28.00")
    first = await daemons.start()
    assert "spin_off_basis" in (await halts(first))["MMM"]
    await first.close()
    settings = make_settings(fake)
    alpaca = settings.alpaca.model_copy(update={"spin_off_basis": {"SOLV": Decimal("0.0832")}})
    again = await daemons.start(first.url, settings=settings.model_copy(update={"alpaca": alpaca}))
    assert [(q, c) for _id, q, c in lots(again, "SOLV")] == [(Decimal(10), Decimal("499.20"))]
    assert [(q, c) for _id, q, c in lots(again, "MMM")] == [(Decimal(40), Decimal("5500.80"))]


async def test_a_spin_off_after_a_same_day_sale_of_the_parent_applies_as_on_replay(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Alpaca books the spin-off at the day's start (before the open), so it applies before
    that day's sale of all 40 MMM, which reconciliation reads first. The journal's replay is
    the truth (`tlh tax report --journal`): the live ledger must be that replay, the spin-off
    applied and the sale's basis cut to the parent's share, not the spin-off refused."""
    hold(fake, "MMM", "40", "150", position="0")
    spun = DAY.astimezone(NEW_YORK).replace(hour=0, minute=0, second=0, microsecond=0)
    fill_activity(fake, "sell", "MMM", "40", "140", spun + timedelta(hours=11))
    fake.add_activity("SPIN", when=spun, symbol="MMM", qty="0")
    fake.add_activity("SPIN", when=spun, symbol="SOLV", qty="10")
    fake.set_position("SOLV", "10", "49.92")
    settings = make_settings(fake)
    alpaca = settings.alpaca.model_copy(update={"spin_off_basis": {"SOLV": Decimal("0.0832")}})
    running = await daemons.start(settings=settings.model_copy(update={"alpaca": alpaca}))
    live = running.engine.ledger
    replayed, rejected = replay(live.empty_copy(), [r.to_event() for r in await running.journal()])
    assert rejected == []
    assert [(r.quantity, r.cost_basis) for r in live.sales] == [(Decimal(40), Decimal("5500.80"))]
    assert [(r.quantity, r.cost_basis) for r in live.sales] == [
        (r.quantity, r.cost_basis) for r in replayed.sales
    ]
    assert [(q, c) for _id, q, c in lots(running, "SOLV")] == [(Decimal(10), Decimal("499.20"))]
    assert await halts(running) == {}


async def test_cash_in_lieu_of_a_fractional_share_is_its_sale(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """A 1-for-4 reverse split of 10 VTI delivers 2 shares and 40 in cash for the half share
    (two SPLIT entries and a cash one): the cash is the sale of 0.5 VTI for 40 with a fifth
    of the basis (Rev. Rul. 66-365; IRS Pub. 550, "Fractional shares"), on Form 8949."""
    hold(fake, "VTI", "10", "200")
    fake.reorganize("SPLIT", "VTI", "10", "VTI", "2", when=DAY)
    fake.add_activity(
        "SPLIT", when=DAY, symbol="VTI", qty="0", net_amount="40", per_share_amount="80"
    )
    running = await daemons.start()
    ledger = running.engine.ledger
    assert [(r.quantity, r.proceeds, r.cost_basis) for r in ledger.sales] == [
        (Decimal("0.5"), Decimal("40.00"), Decimal("400.00"))
    ]
    assert ledger.positions() == {(ACCOUNT, "VTI"): Decimal(2)}
    assert await halts(running) == {}


async def test_cash_in_lieu_without_a_price_halts_naming_it(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """Which fraction the cash pays for cannot be told without its price per share: the
    conversion is not applied and both symbols halt, the cash entry named."""
    hold(fake, "TGT", "10", "40")
    fake.reorganize("MA", "TGT", "10", "ACQ", "6", when=DAY)
    cash = fake.add_activity("MA", when=DAY, symbol="ACQ", qty="0", net_amount="12.34")
    running = await daemons.start()
    reasons = await halts(running)
    assert cash["id"] in reasons["TGT"]
    assert cash["id"] in reasons["ACQ"]
    assert JournalKind.CONVERSION not in [r.kind for r in await running.journal()]


async def test_a_stock_dividend_halts_naming_it(fake: FakeAlpaca, daemons: Daemons) -> None:
    """A DIV entry that brings 2 VTI in without cash and without saying it was reinvested is
    a stock dividend, not cash: the daemon does not apply it, and VTI halts, the activity
    named (issue #11 §4: a type it does not understand still halts)."""
    hold(fake, "VTI", "10", "200", position="12")
    div = fake.add_activity("DIV", when=DAY, symbol="VTI", qty="2", description="stock dividend")
    running = await daemons.start()
    assert div["id"] in (await halts(running))["VTI"]
