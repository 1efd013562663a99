"""The append-only journal: dedupe by external id, replay order, ledger round trip, speed."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import JournalEntry, JournalKind
from adapters.storage.repository import Repository
from ledger.model import Action, Split, Trade


def _fill(n: int, external_id: str | None = None) -> JournalEntry:
    return JournalEntry.trade(
        account="taxable-1",
        action=Action.BUY,
        symbol="VTI",
        quantity=Decimal(n),
        price=Decimal("250.01"),
        trade_date=date(2026, 3, 2),
        source=f"sim:fill:{n}",
        external_id=external_id,
    )


async def test_appending_the_same_external_id_twice_is_a_no_op(repo: Repository) -> None:
    """Re-importing a fill with a known external id appends nothing and returns no seq."""
    first = await repo.append_journal([_fill(1, "alpaca:e1"), _fill(2, "alpaca:e2")])

    again = await repo.append_journal([_fill(1, "alpaca:e1"), _fill(2, "alpaca:e2")])

    assert len(first) == 2
    assert again == []
    assert [r.external_id for r in await repo.load_journal()] == ["alpaca:e1", "alpaca:e2"]


async def test_duplicates_within_one_batch_keep_the_first(repo: Repository) -> None:
    """Within one call, a repeated external id is skipped after its first occurrence."""
    seqs = await repo.append_journal([_fill(1, "x"), _fill(2, "x"), _fill(3), _fill(4)])

    records = await repo.load_journal()

    assert len(seqs) == 3
    assert [r.quantity for r in records] == [1, 3, 4]  # entries without external id never clash


async def test_a_partly_known_batch_appends_only_the_new_entries(repo: Repository) -> None:
    """Known external ids are dropped, the rest keep their order and get new seqs."""
    await repo.append_journal([_fill(2, "b")])

    seqs = await repo.append_journal([_fill(1, "a"), _fill(2, "b"), _fill(3, "c")])

    records = await repo.load_journal(after_seq=seqs[0] - 1)
    assert [r.external_id for r in records] == ["a", "c"]
    assert [r.seq for r in records] == seqs


async def test_load_order_is_seq_order_and_after_seq_resumes(repo: Repository) -> None:
    """Entries replay in append order (seq), and `after_seq` returns only later entries."""
    first = await repo.append_journal([_fill(n) for n in (5, 3, 9)])
    second = await repo.append_journal([_fill(n) for n in (1, 7)])

    everything = await repo.load_journal()
    later = await repo.load_journal(after_seq=first[-1])

    assert [r.seq for r in everything] == first + second
    assert first == sorted(first)
    assert second[0] > first[-1]
    assert [r.quantity for r in everything] == [5, 3, 9, 1, 7]
    assert [r.seq for r in later] == second


def test_the_repository_offers_no_way_to_change_or_remove_journal_rows() -> None:
    """The journal is append-only: the only journal operations are append and load."""
    journal_methods = {
        name
        for name, _ in inspect.getmembers(Repository, inspect.isfunction)
        if "journal" in name and not name.startswith("_")
    }
    assert journal_methods == {"append_journal", "load_journal"}


async def test_trades_and_splits_replay_as_the_ledger_events_they_recorded(
    repo: Repository,
) -> None:
    """A ledger Trade or Split stored and loaded comes back equal, with the journal's seq."""
    at = datetime(2026, 3, 2, 15, 4, 5, 678000, tzinfo=UTC)
    trade = Trade(
        seq=0,
        trade_date=date(2026, 3, 2),
        account="taxable-1",
        action=Action.SELL,
        symbol="VTI",
        quantity=Decimal("0.000000001"),
        price=Decimal("12345678901234.123456789"),
        fees=Decimal("0.35"),
        lot_id="lot-7",
        at=at,
        source="trades.csv:12",
    )
    split = Split(seq=0, trade_date=date(2026, 3, 3), symbol="VTI", ratio=Decimal("0.25"))
    entries = [
        JournalEntry.from_event(trade, kind=JournalKind.IMPORT),
        JournalEntry.from_event(split),
    ]

    seqs = await repo.append_journal(entries)
    records = await repo.load_journal()

    assert [r.to_event() for r in records] == [
        trade._replace(seq=seqs[0]),
        Split(**{**_fields(split), "seq": seqs[1]}),
    ]
    assert [r.kind for r in records] == [JournalKind.IMPORT, JournalKind.SPLIT]


def _fields(event: Split) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__slots__}


_DAY = date(2026, 1, 2)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"kind": JournalKind.SPLIT, "account": "a", "ratio": Decimal(2)}, "split entry has no"),
        ({"kind": JournalKind.SPLIT}, "split entry needs a ratio"),
        (
            {
                "kind": JournalKind.TRADE,
                "account": "a",
                "action": Action.BUY,
                "quantity": Decimal(1),
                "fees": Decimal(0),
            },
            "trade entry needs",
        ),
        (
            {
                "kind": JournalKind.IMPORT,
                "account": "a",
                "action": Action.BUY,
                "quantity": Decimal(1),
                "price": Decimal(1),
                "fees": Decimal(0),
                "occurred_at": datetime(2026, 1, 2, 10, 0),
            },
            "tz-aware",
        ),
    ],
    ids=["split-with-account", "split-without-ratio", "trade-without-price", "naive-time"],
)
def test_malformed_entries_are_refused_before_storage(
    fields: dict[str, object], match: str
) -> None:
    """Entries whose shape does not match their kind never reach the journal."""
    with pytest.raises(ValueError, match=match):
        JournalEntry(symbol="VTI", trade_date=_DAY, source="x", **fields)  # type: ignore[arg-type]


@pytest.mark.slow
async def test_loading_100k_entries_takes_well_under_a_second(sqlite_url: str) -> None:
    """Rebuilding the ledger on start reads 100,000 journal rows back exactly, in order.

    Its speed is measured by bench/cold_start.py, not asserted here (benchmarks, not timed tests).
    """
    engine = create_engine(sqlite_url)
    try:
        await upgrade_database(engine)
        repo = Repository(engine)
        at = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
        entries = [
            JournalEntry.trade(
                account="taxable-1",
                action=Action.BUY if n % 2 else Action.SELL,
                symbol=f"S{n % 500}",
                quantity=Decimal(f"{n}.123456789"),
                price=Decimal("101.25"),
                fees=Decimal("0.01"),
                trade_date=date(2026, 3, 2),
                occurred_at=at,
                source=f"trades.csv:{n}",
                external_id=f"e{n}",
            )
            for n in range(100_000)
        ]
        await repo.append_journal(entries)

        records = await repo.load_journal()
    finally:
        await engine.dispose()

    assert len(records) == 100_000
    assert records[-1].quantity == Decimal("99999.123456789")
    assert [r.seq for r in records] == sorted(r.seq for r in records)
