"""A journal holding an entry the ledger rejects, as an older version could write one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from adapters.storage.records import JournalEntry, JournalKind
from adapters.storage.repository import Repository
from ledger.model import Action

TAXABLE = "taxable"
LONG_AGO = date(2023, 11, 1)
LATER = date(2024, 1, 10)


async def write_bad_journal(repo: Repository) -> None:
    """Journal 40 VTI bought, a sale of 50 VTI (which the ledger rejects: an older version
    wrote such entries), then 5 VTI and 10 SCHB bought later."""

    def buy(symbol: str, qty: int, day: date, lot: str) -> JournalEntry:
        return JournalEntry.trade(
            account=TAXABLE,
            action=Action.BUY,
            symbol=symbol,
            quantity=Decimal(qty),
            price=Decimal(200),
            trade_date=day,
            source="history",
            lot_id=lot,
            external_id=f"history:{lot}",
            kind=JournalKind.IMPORT,
        )

    await repo.append_journal(
        [
            buy("VTI", 40, LONG_AGO, "vti-1"),
            JournalEntry.trade(
                account=TAXABLE,
                action=Action.SELL,
                symbol="VTI",
                quantity=Decimal(50),
                price=Decimal(180),
                trade_date=date(2023, 12, 1),
                source="sim:fill:x",
                external_id="sim:x",
            ),
            buy("VTI", 5, LATER, "vti-2"),
            buy("SCHB", 10, LATER, "schb-1"),
        ]
    )
