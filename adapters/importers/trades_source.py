"""TRADES.csv rows as journal imports (`tlh import --trades`).

The file is the `tlh tax report` format (`adapters.importers.trades_csv`). Every row goes to
the account imported into: a row naming another account is an error (its line and the
``account`` column), an empty one means that account. A SPLIT row is journaled as a split
(of every account's shares), unless the journal holds it already from another source.

Source id: ``csv:`` and a SHA-256 of the account and the row's fields as written (trimmed),
plus how many identical rows came before it in the file — so two identical fills on one day
stay two trades, and importing the file again, or another file holding the same rows, adds
nothing. A purchase without a ``lot_id`` gets one derived from that id, so lot ids never
collide across imports.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from adapters.importers.journal_import import ImportRow, Where
from adapters.importers.trades_csv import read_trade_rows
from adapters.storage.records import JournalEntry, JournalKind
from ledger.model import Action, Split

SOURCE_PREFIX = "csv"


def trade_rows(path: str | Path, account: str) -> list[ImportRow]:
    """Return the rows of the TRADES.csv file at `path` as imports into `account`; raise
    `InputError` naming the line and column of the first bad row."""
    rows = read_trade_rows(path)
    account_column = rows.header.index("account")
    repeats: Counter[tuple[str, ...]] = Counter()
    imports: list[ImportRow] = []
    for line, record in rows.rows:
        where = Where(str(path), line)
        named = record[account_column].strip()
        if named and named != account:
            raise where.error(
                "account", f"the row is for account {named!r}, the import into {account!r}"
            )
        (trade,) = rows.parse([(line, record)])
        fields = tuple(value.strip() for value in record)
        repeats[fields] += 1
        digest = hashlib.sha256(
            "\x1f".join((account, *fields, str(repeats[fields]))).encode()
        ).hexdigest()[:32]
        source_id = f"{SOURCE_PREFIX}:{digest}"
        if isinstance(trade, Split):
            split = JournalEntry.split(
                symbol=trade.symbol,
                ratio=trade.ratio,
                trade_date=trade.trade_date,
                occurred_at=trade.at if trade.at is not None and trade.at.tzinfo else None,
                source=f"import:{Path(path).name}:{line}",
                external_id=source_id,
            )
            imports.append(ImportRow(split, where))
            continue
        lot_id = trade.lot_id
        if lot_id is None and trade.action is Action.BUY:
            lot_id = f"{trade.symbol}-{trade.trade_date:%Y%m%d}-{digest[:12]}"
        entry = JournalEntry.trade(
            account=account,
            action=trade.action,
            symbol=trade.symbol,
            quantity=trade.quantity,
            price=trade.price,
            fees=trade.fees,
            trade_date=trade.trade_date,
            occurred_at=trade.at if trade.at is not None and trade.at.tzinfo else None,
            lot_id=lot_id,
            source=f"import:{Path(path).name}:{line}",
            external_id=source_id,
            kind=JournalKind.IMPORT,
        )
        imports.append(ImportRow(entry, where))
    return imports
