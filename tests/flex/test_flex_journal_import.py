"""Planning and writing an import into the journal (`adapters/importers/journal_import.py`),
on a real SQLite journal.

Issue #11 §1: imports append to the same append-only journal as the broker's fills; importing
the same file twice, or overlapping statements, adds nothing the second time; all or nothing.
The guide: an entry the ledger rejects is never written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.ib.flex import read_flex_file
from adapters.importers import InputError
from adapters.importers.journal_import import (
    ImportRow,
    JournalChangedError,
    Where,
    plan_import,
    write_import,
)
from adapters.importers.trades_source import trade_rows
from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import JournalEntry, JournalKind
from adapters.storage.repository import Repository
from ledger.engine import Ledger
from ledger.model import Action

FIXTURE = Path(__file__).parent / "fixtures" / "activity_2025.xml"
ACCOUNT = "U1234567"


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'j.sqlite'}")
    await upgrade_database(db)
    try:
        yield Repository(db)
    finally:
        await db.dispose()


async def import_rows(repo: Repository, rows: list[ImportRow], **kw: object) -> int:
    plan = plan_import(await repo.load_journal(), Ledger(), rows, **kw)  # type: ignore[arg-type]
    await write_import(repo, plan)
    return len(plan.entries)


async def ledger_of(repo: Repository) -> Ledger:
    ledger = Ledger()
    ledger.apply_all(r.to_event() for r in await repo.load_journal())
    return ledger


def flex_rows() -> list[ImportRow]:
    return read_flex_file(FIXTURE).rows


def buy(symbol: str, quantity: str, day: date, source_id: str, lot: str) -> ImportRow:
    entry = JournalEntry.trade(
        account=ACCOUNT,
        action=Action.BUY,
        symbol=symbol,
        quantity=Decimal(quantity),
        price=Decimal(100),
        trade_date=day,
        lot_id=lot,
        source="test",
        external_id=source_id,
        kind=JournalKind.IMPORT,
    )
    return ImportRow(entry, Where("t.csv", 2))


async def test_a_sale_relieves_the_lots_the_statement_says_it_closed(repo: Repository) -> None:
    """The fixture's sale of 60 VTI closed the April lot (50) and 10 of the March lot's 100:
    the ledger relieves exactly those, not FIFO's choice (the March lot first)."""
    await import_rows(repo, flex_rows())

    lots = {(lot.lot_id, lot.quantity) for lot in (await ledger_of(repo)).open_lots()}
    assert lots == {("VTI-20250303-ib1001", Decimal(90)), ("SCHB-20240903-ib9000", Decimal(90))}


async def test_a_sale_closing_two_lots_is_journaled_as_one_sale_per_lot(
    repo: Repository,
) -> None:
    """One entry per closed lot, ids ID#1 and ID#2, the fees shared by quantity to the cent
    and adding up to the sale's."""
    await import_rows(repo, flex_rows())

    sales = [r for r in await repo.load_journal() if r.action is Action.SELL]
    assert [(s.external_id, s.lot_id, s.quantity, s.fees) for s in sales] == [
        ("ib-flex:U1234567:1004#1", "VTI-20250407-ib1002", Decimal(50), Decimal("0.86")),
        ("ib-flex:U1234567:1004#2", "VTI-20250303-ib1001", Decimal(10), Decimal("0.17")),
    ]


async def test_importing_the_same_statement_twice_adds_nothing(repo: Repository) -> None:
    """The second import finds every transaction's source id in the journal."""
    first = await import_rows(repo, flex_rows())
    count = len(await repo.load_journal())

    plan = plan_import(await repo.load_journal(), Ledger(), flex_rows())

    assert first == 6
    assert plan.entries == []
    assert plan.known == 5  # rows: the sale of two lots is one transaction
    assert len(await repo.load_journal()) == count


async def test_overlapping_statements_add_only_what_is_new(repo: Repository) -> None:
    """A later statement repeating some of an earlier one's rows adds only the others."""
    rows = [r for r in flex_rows() if r.entry.kind is not JournalKind.SPLIT]
    await import_rows(repo, rows[:2])

    plan = plan_import(await repo.load_journal(), Ledger(), rows)

    assert plan.known == 2
    assert [e.external_id for e in plan.entries] == [
        "ib-flex:U1234567:1002",
        "ib-flex:U1234567:1004#1",
        "ib-flex:U1234567:1004#2",
    ]


async def test_a_fill_the_broker_already_journaled_is_not_imported_again(
    repo: Repository,
) -> None:
    """A Flex trade whose execution id the journal holds (the IB adapter's fill, ib:<execId>)
    is the same execution: it is not imported twice."""
    fill = JournalEntry.trade(
        account=ACCOUNT,
        action=Action.BUY,
        symbol="VTI",
        quantity=Decimal(100),
        price=Decimal("250.10"),
        fees=Decimal(1),
        trade_date=date(2025, 3, 3),
        occurred_at=datetime(2025, 3, 3, 15, 15, tzinfo=UTC),
        lot_id="VTI-20250303-fill",
        source="ib:fill:0000e0d5.67c5a1b2.01.01",
        external_id="ib:0000e0d5.67c5a1b2.01.01",
    )
    await repo.append_journal([fill])

    plan = plan_import(await repo.load_journal(), Ledger(), flex_rows())

    assert plan.known == 1
    assert "ib-flex:U1234567:1001" not in {e.external_id for e in plan.entries}


async def test_fills_of_tlhs_own_orders_are_left_to_the_daemon(repo: Repository) -> None:
    """A row whose order reference is one of tlh's intents, within what the journal holds of
    that order, was journaled by the daemon's one fill path (OrderManager.on_fill): the import
    leaves it out and counts it."""
    rows = flex_rows()
    own = rows[1]
    rows[1] = ImportRow(own.entry, own.where, order_ref="tlh-intent-1")
    assert own.entry.quantity is not None

    plan = plan_import([], Ledger(), rows[:2], own_orders={"tlh-intent-1": own.entry.quantity})

    assert plan.own_orders == 1
    assert len(plan.entries) == 1
    assert plan.counted == {}


async def test_the_part_of_an_own_order_the_journal_lacks_is_imported_and_counted(
    repo: Repository,
) -> None:
    """The journal holds 40 of an own order filled 60 + 40 (daemon/orders.py
    `new_fill_entry`: an order's fills are journaled in execution order up to its cumulative
    quantity): the first row's last 20 shares and the second row are imported, and counted
    for the intent against the 40 it held."""
    first, second = (
        replace(buy("VTI", q, date(2025, 3, d), f"ib-flex:x:{d}", f"VTI-{d}"), order_ref="tlh-b")
        for q, d in (("60", 3), ("40", 4))
    )

    plan = plan_import([], Ledger(), [second, first], own_orders={"tlh-b": Decimal(40)})

    assert [(e.external_id, e.quantity) for e in plan.entries] == [
        ("ib-flex:x:3", Decimal(20)),
        ("ib-flex:x:4", Decimal(40)),
    ]
    journaled, counted = plan.counted["tlh-b"]
    assert journaled == Decimal(40)
    assert [e.quantity for e in counted] == [Decimal(20), Decimal(40)]


async def test_a_row_the_ledger_rejects_stops_the_import_and_writes_nothing(
    repo: Repository,
) -> None:
    """A sale of shares the account does not hold is named by its file, line and element,
    and nothing of the import is written."""
    rows = [r for r in flex_rows() if r.entry.symbol != "VTI" or r.entry.action is Action.SELL]

    with pytest.raises(InputError) as caught:
        plan_import(await repo.load_journal(), Ledger(), rows)

    assert str(caught.value).startswith(f"{FIXTURE}:")
    assert "Lot[1]/@openDateTime: closes 50 VTI opened 2025-04-07T14:30:00-04:00" in str(
        caught.value
    )
    assert await repo.load_journal() == []


async def test_a_sale_without_closed_lots_that_oversells_names_its_row(
    repo: Repository,
) -> None:
    """Without closed lots the ledger's relief applies; selling more than held is refused,
    naming the row's line and the field."""
    sale = JournalEntry.trade(
        account=ACCOUNT,
        action=Action.SELL,
        symbol="VTI",
        quantity=Decimal(5),
        price=Decimal(100),
        trade_date=date(2025, 1, 2),
        source="t",
        external_id="csv:x",
        kind=JournalKind.IMPORT,
    )

    with pytest.raises(InputError, match=r"^t\.csv:7: quantity: "):
        plan_import([], Ledger(), [ImportRow(sale, Where("t.csv", 7))])


async def test_older_history_is_checked_in_date_order_with_the_journal(
    repo: Repository,
) -> None:
    """Imported purchases dated before a sale already in the journal are replayed before it:
    an import that makes a journaled sale possible is accepted."""
    sale = JournalEntry.trade(
        account=ACCOUNT,
        action=Action.SELL,
        symbol="VTI",
        quantity=Decimal(5),
        price=Decimal(120),
        trade_date=date(2025, 6, 2),
        source="t",
        external_id="ib:sold",
    )
    await repo.append_journal([sale])  # the journal's one entry, rejected on replay so far

    added = await import_rows(repo, [buy("VTI", "5", date(2025, 1, 2), "csv:a", "VTI-a")])

    ledger = await ledger_of(repo)
    assert added == 1
    assert [row.quantity for row in ledger.sales] == [Decimal(5)]


async def test_an_import_that_breaks_a_journaled_sale_is_refused(repo: Repository) -> None:
    """An older sale that takes the shares a journaled sale relieved would make that entry
    impossible on replay: the import is refused, naming the journal entry."""
    held = buy("VTI", "10", date(2025, 1, 2), "ib:bought", "VTI-a").entry
    sold = replace(held, action=Action.SELL, trade_date=date(2025, 6, 2), lot_id=None)
    await repo.append_journal([held, replace(sold, external_id="ib:sold")])
    older = replace(sold, quantity=Decimal(5), trade_date=date(2025, 3, 3), external_id="csv:o")

    with pytest.raises(InputError, match=r"^t\.csv: importing this would make journal entry 2"):
        plan_import(await repo.load_journal(), Ledger(), [ImportRow(older, Where("t.csv", 3))])


async def test_the_write_refuses_a_journal_changed_since_the_plan(repo: Repository) -> None:
    """The plan is checked against the journal it was made on: an entry appended meanwhile
    (a writer ignoring the lock) aborts the write, which then adds nothing."""
    plan = plan_import([], Ledger(), [buy("VTI", "5", date(2025, 1, 2), "csv:a", "VTI-a")])
    await repo.append_journal([buy("XLE", "1", date(2025, 1, 3), "other", "XLE-a").entry])

    with pytest.raises(JournalChangedError):
        await write_import(repo, plan)
    assert [r.external_id for r in await repo.load_journal()] == ["other"]


async def test_csv_rows_keep_identical_fills_apart_and_import_once(
    repo: Repository, tmp_path: Path
) -> None:
    """Two identical rows are two trades (their ids count the repeat); importing the file
    again adds nothing."""
    path = tmp_path / "trades.csv"
    path.write_text(
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2025-01-02,,BUY,VTI,5,200,0,\n"
        "2025-01-02,,BUY,VTI,5,200,0,\n"
    )

    first = await import_rows(repo, trade_rows(path, "ira"))
    again = plan_import(await repo.load_journal(), Ledger(), trade_rows(path, "ira"))

    assert first == 2
    assert (again.entries, again.known) == ([], 2)
    assert sum(lot.quantity for lot in (await ledger_of(repo)).open_lots()) == 10


def test_a_csv_row_of_another_account_is_refused(tmp_path: Path) -> None:
    """Every row goes to the account imported into; a row naming another is an error at its
    line and column."""
    path = tmp_path / "trades.csv"
    path.write_text(
        "date,account,action,symbol,quantity,price,fees,lot_id\n2025-01-02,spouse,BUY,VTI,5,1,0,\n"
    )

    with pytest.raises(InputError, match=r"trades\.csv:2: account: the row is for account"):
        trade_rows(path, "ira")
