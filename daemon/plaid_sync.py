"""The daemon's Plaid sync: every linked Item, once at start and then hourly while the market
is open, into the running daemon's journal through its `ImportSink`.

Each Item is fetched (`adapters.plaid.fetch.fetch_item`: 24 months of transactions and the
holdings) and handed to the sink, which, under the engine lock, reconciles it with the journal
(`ItemHistory.reconcile`: opening lots on the account's first import only, the source checked),
plans it (idempotent by source id: a sync that finds nothing new adds nothing), appends it and
re-arms the wash guard. One Item failing (Plaid down, a revoked token, bad data, any error) is
logged with its account and the error's type and does not stop the others; the next sync tries
again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from adapters.importers import InputError
from adapters.importers.journal_import import ImportPlan, ImportRow
from adapters.plaid.client import PlaidClient, PlaidError
from adapters.plaid.fetch import fetch_item
from adapters.plaid.history import Reconciled
from adapters.plaid.settings import PlaidItem, PlaidSettings
from adapters.storage.records import Account, JournalRecord
from daemon.clock import Clock
from daemon.import_sink import ImportSink
from daemon.market_calendar import NEW_YORK
from daemon.scheduler import SessionCalendar
from ledger.model import AccountType

SYNC_JOB_ID = "plaid_sync"
START_JOB_ID = "plaid_sync_start"
BROKER = "plaid"

log = structlog.stdlib.get_logger(__name__)


class PlaidSync:
    """Sync the `[[plaid.items]]` into the running daemon's journal."""

    def __init__(
        self,
        settings: PlaidSettings,
        sink: ImportSink,
        calendar: SessionCalendar,
        clock: Clock,
        *,
        accounts: Mapping[str, AccountType] | None = None,
        lot_method: str = "fifo",
    ) -> None:
        """`accounts` is `[accounts]` (a type declared there wins over Plaid's subtype, an
        item's `type` over both); `lot_method` is stored with the accounts."""
        self._settings = settings
        self._sink = sink
        self._calendar = calendar
        self._clock = clock
        self._accounts = dict(accounts or {})
        self._lot_method = lot_method
        self._client: PlaidClient | None = None

    def register(self, scheduler: AsyncIOScheduler) -> None:
        """Add the sync to `scheduler` (started): once now, then every `sync_minutes`
        while the market is open."""
        if not self._settings.items:
            return
        scheduler.add_job(
            self.sync_all,
            DateTrigger(run_date=self._clock.now(), timezone=NEW_YORK),
            id=START_JOB_ID,
            name=START_JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,
        )
        scheduler.add_job(
            self.sync_if_open,
            IntervalTrigger(minutes=self._settings.sync_minutes, timezone=NEW_YORK),
            id=SYNC_JOB_ID,
            name=SYNC_JOB_ID,
            replace_existing=True,
        )

    def market_open(self) -> bool:
        """Return whether the regular session is open now."""
        now = self._clock.now()
        hours = self._calendar.session_open_close(now.astimezone(NEW_YORK).date())
        return hours is not None and hours[0] <= now < hours[1]

    async def sync_if_open(self) -> dict[str, ImportPlan | Exception]:
        """Sync every Item if the market is open; return what `sync_all` returns (or {})."""
        if not self.market_open():
            return {}
        return await self.sync_all()

    async def sync_all(self) -> dict[str, ImportPlan | Exception]:
        """Sync every Item; return, by account, the plan applied or the error it met."""
        results: dict[str, ImportPlan | Exception] = {}
        for item in self._settings.items:
            results[item.account] = await self.sync_item(item)
        return results

    async def sync_item(self, item: PlaidItem) -> ImportPlan | Exception:
        """Fetch `item` and hand it to the sink; return the plan, or the error (logged)."""
        today: date = self._clock.now().astimezone(NEW_YORK).date()
        found: list[Reconciled] = []
        try:
            if self._client is None:
                self._client = PlaidClient(self._settings)
            history = await fetch_item(self._settings, item, today=today, client=self._client)
            kind = item.type or self._accounts.get(item.account) or history.account_type

            def derive(journal: Sequence[JournalRecord]) -> list[ImportRow]:
                found.append(history.reconcile(journal))
                return found[-1].openings

            account = Account(item.account, kind, BROKER, self._lot_method)
            plan = await self._sink.apply_import(history.transactions, account, derive=derive)
        except Exception as exc:  # one Item's failure, whatever it is, spares the others
            log.error(
                "plaid_sync_failed",
                account=item.account,
                error_type=type(exc).__name__,
                error=str(exc) if isinstance(exc, PlaidError | InputError) else repr(exc),
            )
            return exc
        for symbol, extra in found[-1].unexplained.items():
            log.warning(
                "plaid_position_unexplained", account=item.account, symbol=symbol, extra=str(extra)
            )
        for symbol, extra in found[-1].unposted.items():
            log.warning(
                "plaid_purchase_not_posted", account=item.account, symbol=symbol, extra=str(extra)
            )
        log.info(
            "plaid_sync_done",
            account=item.account,
            added=len(plan.entries),
            known=plan.known,
            skipped=dict(history.skipped),
        )
        return plan
