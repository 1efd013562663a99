"""Idempotence of imports as an invariant (issue #11 §1: importing the same file twice, or
overlapping statements, adds nothing the second time).

However a history is cut into overlapping statements and in whatever order they are imported,
the journal ends with each transaction exactly once, and importing everything again adds
nothing.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.importers.journal_import import ImportRow, Where, plan_import
from adapters.storage.records import JournalEntry, JournalKind, JournalRecord
from ledger.engine import Ledger
from ledger.model import Action

RECORDED = datetime(2026, 1, 1, tzinfo=UTC)


def purchase(n: int, symbol: str, day: int, quantity: int) -> ImportRow:
    entry = JournalEntry.trade(
        account="U1",
        action=Action.BUY,
        symbol=symbol,
        quantity=Decimal(quantity),
        price=Decimal("10.5"),
        trade_date=date(2025, 1, 1) + timedelta(days=day),
        lot_id=f"{symbol}-ib{n}",
        source=f"ib-flex:{n}",
        external_id=f"ib-flex:U1:{n}",
        kind=JournalKind.IMPORT,
    )
    return ImportRow(entry, Where("s.xml", n))


def stored(entries: list[JournalEntry], first_seq: int) -> list[JournalRecord]:
    """Return `entries` as the journal stores them (seqs from `first_seq`)."""
    names = [f.name for f in fields(JournalRecord)]
    return [
        JournalRecord(
            **{name: getattr(e, name) for name in names if name not in ("seq", "recorded_at")},
            seq=first_seq + i,
            recorded_at=RECORDED,
        )
        for i, e in enumerate(entries)
    ]


histories = st.lists(
    st.tuples(st.sampled_from(["VTI", "SCHB", "ITOT"]), st.integers(0, 400), st.integers(1, 50)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(history=histories, data=st.data())
def test_overlapping_statements_journal_each_transaction_once(
    history: list[tuple[str, int, int]], data: st.DataObject
) -> None:
    """Import random overlapping slices of a history, then all of it: every transaction is
    in the journal once, and the last import adds nothing."""
    rows = [purchase(n, *trade) for n, trade in enumerate(history)]
    slices = data.draw(
        st.lists(st.tuples(st.integers(0, len(rows)), st.integers(0, len(rows))), max_size=6)
    )
    journal: list[JournalRecord] = []
    for start, end in slices:
        plan = plan_import(journal, Ledger(), rows[min(start, end) : max(start, end)])
        journal += stored(plan.entries, len(journal) + 1)

    plan = plan_import(journal, Ledger(), rows)
    journal += stored(plan.entries, len(journal) + 1)
    again = plan_import(journal, Ledger(), rows)

    assert sorted(r.external_id or "" for r in journal) == sorted(r.source_id for r in rows)
    assert again.entries == []
    assert again.known == len(rows)
