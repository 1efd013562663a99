"""The running daemon's door for imported transactions (Plaid syncs, `tlh import` beside it).

Whatever brings outside transactions in while `tlh run` owns the journal hands them to an
`ImportSink`: the daemon plans them against its journal (idempotent by source id, validated
with the whole journal, all or nothing), appends them, rebuilds its ledger and re-arms the wash
guard, all without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from adapters.importers.journal_import import ImportPlan, ImportRow
from adapters.storage.records import Account, JournalRecord

Derive = Callable[[Sequence[JournalRecord]], Sequence[ImportRow]]
"""More rows computed from the journal as it is when the import is applied (e.g. Plaid's
opening lots); may raise `adapters.importers.InputError` to refuse the import."""


class ImportSink(Protocol):
    """Apply imported rows of one account to the running daemon's journal and ledger."""

    async def apply_import(
        self, rows: Sequence[ImportRow], account: Account, *, derive: Derive | None = None
    ) -> ImportPlan:
        """Plan, write and apply `rows` of `account` and `derive(journal)`, computed where the
        journal cannot change until the rows are written; return the plan (what was added).

        Raise `adapters.importers.InputError` (nothing written) when the ledger would reject
        a row.
        """
        ...
