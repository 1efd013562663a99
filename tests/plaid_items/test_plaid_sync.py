"""The daemon's Plaid sync: every Item into the journal through an `ImportSink`, once at start
and then every `sync_minutes` while the market is open (issue #11 §2)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from adapters.importers.journal_import import ImportPlan, ImportRow
from adapters.plaid.client import PlaidError
from adapters.storage.records import Account
from adapters.storage.repository import Repository
from daemon.clock import SimulatedClock
from daemon.import_sink import Derive
from daemon.market_calendar import NEW_YORK, MarketCalendar
from daemon.plaid_sync import START_JOB_ID, SYNC_JOB_ID, PlaidSync
from ledger.model import AccountType
from tests.fake_plaid.server import INVALID_ACCESS_TOKEN, FakePlaid, Transaction

from .plaidkit import RepoSink, days_ago, hold, ira_item, position, settings

OPEN = datetime(2026, 12, 2, 11, 0, tzinfo=NEW_YORK)  # a Wednesday, mid-session
SATURDAY = datetime(2026, 12, 5, 11, 0, tzinfo=NEW_YORK)
CALENDAR = MarketCalendar(start=date(2026, 11, 1), end=date(2027, 1, 31))


def two_items(fake: FakePlaid) -> None:
    """Link a spouse IRA holding 4 VTI (bought in the window) and a 401(k) holding 2."""
    ira = ira_item(fake, "access-sandbox-ira-0001")
    ira.transactions.append(
        Transaction("tx-ira", "acct-1", "sec-vti", days_ago(6), "buy", "buy", 4, 240.0)
    )
    hold(ira, 4, 960.0)
    hold(ira_item(fake, "access-sandbox-401k-0001", subtype="401k"), 2, 300.0)


def sync(fake: FakePlaid, sink: RepoSink, repo: Repository, now: datetime) -> PlaidSync:
    plaid = settings(
        fake, **{"spouse-ira": "access-sandbox-ira-0001", "k401": "access-sandbox-401k-0001"}
    )
    return PlaidSync(plaid, sink, CALENDAR, SimulatedClock(now))


async def test_every_item_is_imported_once(fake_plaid: FakePlaid, repo: Repository) -> None:
    """A sync imports each Item with its account's type; the next sync adds nothing."""
    two_items(fake_plaid)
    sink = RepoSink(repo)
    plaid_sync = sync(fake_plaid, sink, repo, OPEN)

    first = await plaid_sync.sync_all()
    second = await plaid_sync.sync_all()

    assert {a: len(p.entries) for a, p in first.items() if isinstance(p, ImportPlan)} == {
        "spouse-ira": 1,
        "k401": 1,
    }
    assert all(isinstance(p, ImportPlan) and not p.entries for p in second.values())
    assert sink.types == {"spouse-ira": AccountType.IRA, "k401": AccountType.K401}
    assert await position(sink, "k401", "VTI") == Decimal(2)


async def test_one_failing_item_does_not_stop_the_others(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """An Item Plaid refuses is reported with its error; the other Items are still synced."""
    two_items(fake_plaid)
    fake_plaid.fail_next("/investments/transactions/get", INVALID_ACCESS_TOKEN)
    sink = RepoSink(repo)

    results = await sync(fake_plaid, sink, repo, OPEN).sync_all()

    failed = results["spouse-ira"]
    assert isinstance(failed, PlaidError)
    assert failed.code == "INVALID_ACCESS_TOKEN"
    assert await position(sink, "k401", "VTI") == Decimal(2)


async def test_the_hourly_sync_waits_for_the_market(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """Outside the session (a Saturday) the hourly run does nothing; in the session it syncs."""
    two_items(fake_plaid)
    sink = RepoSink(repo)

    assert await sync(fake_plaid, sink, repo, SATURDAY).sync_if_open() == {}
    assert fake_plaid.requests == []
    assert set(await sync(fake_plaid, sink, repo, OPEN).sync_if_open()) == {"spouse-ira", "k401"}


async def test_registered_jobs_sync_at_start_then_every_sync_minutes(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """On the daemon's APScheduler: a one-shot sync now, and the interval job."""
    two_items(fake_plaid)
    sink = RepoSink(repo)
    scheduler = AsyncIOScheduler(timezone=NEW_YORK)
    scheduler.start()
    try:
        sync(fake_plaid, sink, repo, datetime.now(NEW_YORK)).register(scheduler)
        hourly = scheduler.get_job(SYNC_JOB_ID)
        assert isinstance(hourly.trigger, IntervalTrigger)
        assert hourly.trigger.interval == timedelta(minutes=60)
        async with asyncio.timeout(30):
            while len(sink.plans) < 2:  # the start job ran for both Items
                sink.changed.clear()
                await sink.changed.wait()
        assert scheduler.get_job(START_JOB_ID) is None  # one-shot: done
    finally:
        scheduler.shutdown(wait=False)


class BreakingSink(RepoSink):
    """A sink that fails with a non-Plaid error (as a bad number would) for one account."""

    async def apply_import(
        self, rows: Sequence[ImportRow], account: Account, *, derive: Derive | None = None
    ) -> ImportPlan:
        if account.account == "spouse-ira":
            raise ArithmeticError("decimal overflow")
        return await super().apply_import(rows, account, derive=derive)


async def test_any_error_of_one_item_spares_the_others(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """Not only Plaid's and input errors: whatever one Item meets is returned (and logged
    with its type), and the next Item is still synced (PlaidSync.sync_item's docstring)."""
    two_items(fake_plaid)
    sink = BreakingSink(repo)

    results = await sync(fake_plaid, sink, repo, OPEN).sync_all()

    assert isinstance(results["spouse-ira"], ArithmeticError)
    assert await position(sink, "k401", "VTI") == Decimal(2)
