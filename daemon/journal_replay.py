"""Replay the journal into a ledger, tolerating entries the ledger rejects.

The order manager never writes an entry the ledger would reject, but a journal may hold one
anyway (written by an older version, or by hand). Such an entry must not stop the daemon or
any command: replay skips it, names it, and the daemon halts its symbol.

Later entries of that symbol are still applied, each checked on its own: they are real
executions at the broker, and the entry the ledger rejects is most often a repeat of one
already applied (a sale journaled twice), so skipping only that entry leaves the ledger as
the broker's history has it. Any later entry the ledger rejects in turn is skipped the same
way. The symbol stays halted until a person has looked at its history and cleared the halt
(`tlh halts clear`); reconciliation halts it again while the ledger and the broker differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ledger.engine import Ledger, event_order
from ledger.errors import LedgerError
from ledger.model import LedgerEvent, Split


@dataclass(frozen=True, slots=True)
class RejectedEntry:
    """A journal entry the ledger rejected on replay, and why."""

    seq: int
    account: str | None
    symbol: str
    error: str

    @property
    def reason(self) -> str:
        """Return the halt reason this entry gives its symbol."""
        return f"journal entry {self.seq} rejected by the ledger: {self.error}"


def replay(ledger: Ledger, events: Iterable[LedgerEvent]) -> tuple[Ledger, list[RejectedEntry]]:
    """Apply `events` to the empty `ledger`; return the ledger and the entries it rejected.

    The whole history is applied at once (the fast path); only when the ledger rejects an
    entry is it replayed again, event by event, into a fresh ledger that skips each one it
    rejects. The returned ledger is `ledger` itself when nothing was rejected.
    """
    ordered = sorted(events, key=event_order)
    try:
        ledger.apply_sorted(ordered)
        return ledger, []
    except LedgerError:
        pass
    fresh = ledger.empty_copy()
    rejected: list[RejectedEntry] = []
    for event in ordered:
        error = fresh.refusal(event)
        if error is None:
            try:
                fresh.apply(event)
                continue
            except LedgerError as exc:
                error = exc
        account = None if isinstance(event, Split) else event.account
        rejected.append(RejectedEntry(event.seq, account, event.symbol, str(error)))
    return fresh, rejected
