"""The running daemon's door for imported transactions (Plaid syncs, `tlh import` beside it).

Whatever brings outside transactions in while `tlh run` owns the journal hands them to an
`ImportSink`: the daemon plans them against its journal (idempotent by source id, validated
with the whole journal, all or nothing), appends them, rebuilds its ledger and re-arms the wash
guard, all without a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from adapters.importers.journal_import import ImportPlan, ImportRow
from adapters.storage.records import Account


class ImportSink(Protocol):
    """Apply imported rows of one account to the running daemon's journal and ledger."""

    async def apply_import(self, rows: Sequence[ImportRow], account: Account) -> ImportPlan:
        """Plan, write and apply `rows` of `account`; return the plan (what was added).

        Raise `adapters.importers.InputError` (nothing written) when the ledger would reject
        a row.
        """
        ...
