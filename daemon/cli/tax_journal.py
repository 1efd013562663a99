"""`tlh tax report --journal`: the history read straight from the daemon's journal.

Only reads, as `tlh lots` and `tlh status` do: no journal lock, so it runs beside a running
daemon; unlike them, no migration either, and no database file is created: a journal that
does not exist, or whose tables are not this version's, is an error (exit 2) naming it.
The journal's fills, imports, splits, reorganizations and transfers (no sale: nothing to
report) replay as the daemon replays them (`daemon.journal_replay`); an entry the ledger
rejects stops the report, naming the entry, since a report without it would be wrong.

The database layer is imported only when the journal is read: the CSV report starts without it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from daemon.journal_replay import replay
from ledger.conventions import LotMethod
from ledger.engine import Ledger
from ledger.model import AccountType, LedgerEvent


class JournalError(Exception):
    """The journal cannot be reported on: missing, of another schema, or refused by the ledger."""


@dataclass(frozen=True, slots=True)
class JournalHistory:
    """The journal's events, and what its accounts table says of each account."""

    events: list[LedgerEvent]
    account_types: dict[str, AccountType]
    lot_methods: dict[str, LotMethod]


def read_journal(url: str) -> JournalHistory:
    """Return the journal at `url` and its accounts; raise `JournalError`."""
    return asyncio.run(_read(url))


async def _read(url: str) -> JournalHistory:
    from adapters.storage.engine import create_engine, safe_url
    from adapters.storage.migrate import current_revision, head_revision
    from adapters.storage.repository import Repository

    where = safe_url(url)
    database = sqlite_file(url)
    if database is not None and not database.exists():
        raise JournalError(f"{where}: no journal there (the database file does not exist)")
    db = create_engine(url)
    try:
        revision = await current_revision(db)
        if revision != head_revision():
            found = "no tables" if revision is None else f"schema {revision}"
            raise JournalError(
                f"{where}: {found}, not this version's journal ({head_revision()}); "
                "start the daemon or run `tlh db upgrade` first"
            )
        repo = Repository(db)
        records = await repo.load_journal()
        accounts = await repo.accounts()
    finally:
        await db.dispose()
    methods = {m.value: m for m in LotMethod}
    return JournalHistory(
        [r.to_event() for r in records],
        {a.account: a.type for a in accounts},
        {a.account: methods[a.lot_method] for a in accounts if a.lot_method in methods},
    )


def replay_journal(ledger: Ledger, events: list[LedgerEvent]) -> Ledger:
    """Apply the journal's `events` to the empty `ledger`; raise `JournalError` naming the
    first entry it rejects."""
    replayed, rejected = replay(ledger, events)
    if rejected:
        first = rejected[0]
        account = f" in account {first.account!r}" if first.account else ""
        more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
        raise JournalError(
            f"journal entry {first.seq} ({first.symbol}{account}) rejected by the ledger: "
            f"{first.error}{more}; a report without it would be wrong"
        )
    return replayed


def sqlite_file(url: str) -> Path | None:
    """Return the database file of a SQLite `url`; None for PostgreSQL, in memory or a URI."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)
