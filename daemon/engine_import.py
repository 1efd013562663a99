"""The running daemon's `daemon.import_sink.ImportSink`: imports without a restart.

Whatever brings outside transactions in while the daemon owns the journal (a Plaid sync in the
daemon, `tlh import` beside it through `daemon.import_inbox`) hands them here. Under the
engine's lock, the one the event loop handles every event under (fills, reconciliation,
order polls), so that no order manager write interleaves: the rows are planned against the
journal (`adapters.importers.journal_import.plan_import`: idempotent by source id, checked
with the whole journal, all or nothing), appended with the account's record in one
transaction, and the ledger is rebuilt from the journal (imports may be back-dated), which
recomputes every trigger and forgets the day's skips: the next quote is judged afresh, by a
wash guard that sees the imported purchases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

import structlog

from adapters.importers.journal_import import ImportPlan, ImportRow, plan_import, write_import
from adapters.sim.broker import SimBroker
from adapters.storage.records import Account
from adapters.storage.repository import Repository
from daemon.broker_accounts import BrokerAccounts
from daemon.engine import HarvestEngine
from daemon.import_sink import Derive
from ledger.engine import Ledger
from ledger.model import AccountType

log = structlog.get_logger("tlh.import")

Within = Callable[[Repository, ImportPlan], Awaitable[None]]
"""More writes of an import's transaction (e.g. its request taken and answered)."""


async def own_orders(repo: Repository, rows: Iterable[ImportRow]) -> dict[str, Decimal]:
    """Return what the journal holds of each order of tlh's own that `rows` name."""
    refs = {r.order_ref for r in rows if r.order_ref}
    intents = [await repo.get_intent(ref) for ref in sorted(refs)]
    return {i.intent_id: i.filled_quantity for i in intents if i is not None}


class EngineImportSink:
    """Apply imported rows to the running daemon's journal, ledger and wash guard."""

    def __init__(
        self,
        engine: HarvestEngine,
        repo: Repository,
        accounts: BrokerAccounts,
        ledger_for: Callable[[Mapping[str, AccountType]], Ledger],
        configured: Mapping[str, AccountType],
    ) -> None:
        self._engine = engine
        self._repo = repo
        self._accounts = accounts
        self._ledger_for = ledger_for
        self._configured = dict(configured)

    def account_types(self) -> dict[str, AccountType]:
        """Return each account's type: recorded, overridden by the configuration."""
        recorded = {name: a.type for name, a in self._accounts.recorded().items()}
        return {**recorded, **self._configured}

    async def apply_import(
        self, rows: Sequence[ImportRow], account: Account, *, derive: Derive | None = None
    ) -> ImportPlan:
        """Plan, write and apply `rows` of `account` and `derive(journal)` (under the engine
        lock); return the plan (what was added).

        Raise `adapters.importers.InputError` (nothing written) when the ledger would reject
        a row.
        """
        return await self.apply(rows, account, derive=derive)

    async def apply(
        self,
        rows: Sequence[ImportRow],
        account: Account,
        *,
        within: Within | None = None,
        derive: Derive | None = None,
    ) -> ImportPlan:
        """`apply_import`, with `within` run in the import's transaction after its writes."""
        rows = list(rows)
        engine = self._engine
        async with engine.lock:
            records = await self._repo.load_journal()
            if derive is not None:
                rows = [*derive(records), *rows]
            kind = self._configured.get(account.account, account.type)
            stored = self._accounts.to_record(
                replace(account, type=kind),
                in_journal=any(r.account == account.account for r in records),
            )
            changed = self._accounts.recorded().get(stored.account) != stored
            types = {**self.account_types(), stored.account: kind}
            own = await own_orders(self._repo, rows)
            plan = plan_import(records, self._ledger_for(types), rows, own_orders=own)
            async with self._repo.transaction() as tx:
                await write_import(tx, plan, stored if changed or plan.entries else None)
                if within is not None:
                    await within(tx, plan)
            self._accounts.note(stored)
            if plan.entries or changed:
                await engine.rebuild(self._ledger_for(types))
                self._follow_simulator(plan)
        log.info(
            "import_applied",
            account=stored.account,
            broker=stored.broker,
            traded=self._accounts.trades(stored.account),
            added=len(plan.entries),
            known=plan.known,
            symbols=sorted({e.symbol for e in plan.entries}),
        )
        return plan

    def _follow_simulator(self, plan: ImportPlan) -> None:
        """Give the simulator the new holdings of the accounts it trades (its book is the
        journal's)."""
        engine = self._engine
        broker = engine.broker
        if not isinstance(broker, SimBroker):
            return
        for entry in plan.entries:
            if entry.account is not None and self._accounts.trades(entry.account):
                held = engine.ledger.position(entry.account, entry.symbol)
                broker.set_position(entry.account, entry.symbol, held)
