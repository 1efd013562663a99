"""Plaid scenarios on the fake server, settings pointing at it, and a real import sink.

`RepoSink` is the `daemon.import_sink.ImportSink` the tests hand rows to: it plans them with
`plan_import` against a real SQLite journal and writes them with `write_import`, as the
running daemon does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from adapters.importers.journal_import import ImportPlan, ImportRow, plan_import, write_import
from adapters.plaid.settings import PlaidSettings
from adapters.storage.records import Account
from adapters.storage.repository import Repository
from daemon.import_sink import Derive
from ledger.engine import Ledger
from ledger.model import AccountType
from tests.fake_plaid.server import CLIENT_ID, SECRET, FakePlaid, Holding, Item, Security

TODAY = date(2026, 12, 4)
TOKEN = "access-sandbox-0000spouse"
VTI = Security("sec-vti", "VTI", "Vanguard Total Stock Market ETF")
CASH = Security("sec-cash", None, "U S Dollar", type="cash", is_cash_equivalent=True)


def settings(fake: FakePlaid, **items: str) -> PlaidSettings:
    """Return `[plaid]` pointing at `fake`, one item per account=token given."""
    links = items or {"spouse-ira": TOKEN}
    return PlaidSettings(
        client_id=CLIENT_ID,
        secret=SECRET,
        url=fake.url,
        items=tuple({"account": a, "access_token": t} for a, t in links.items()),  # type: ignore[misc]
    )


def ira_item(fake: FakePlaid, token: str = TOKEN, subtype: str = "ira") -> Item:
    """Link an empty Item with one account of `subtype` and the securities VTI and cash."""
    return fake.add_item(token, Item(f"item-{token}", {"acct-1": subtype}, [VTI, CASH]))


def hold(item: Item, quantity: float, cost_basis: float | None, **extra: Any) -> None:
    """Give `item` a VTI holding."""
    item.holdings.append(Holding("acct-1", VTI.security_id, quantity, 250.0, cost_basis, **extra))


def days_ago(n: int) -> date:
    """Return the day `n` days before `TODAY`."""
    return TODAY - timedelta(days=n)


class RepoSink:
    """An `ImportSink` on a real repository: plan against the journal, write, remember types."""

    def __init__(self, repo: Repository, types: dict[str, AccountType] | None = None) -> None:
        self.repo = repo
        self.types = dict(types or {})
        self.plans: list[ImportPlan] = []
        self.changed = asyncio.Event()  # set on each import applied

    async def apply_import(
        self, rows: Sequence[ImportRow], account: Account, *, derive: Derive | None = None
    ) -> ImportPlan:
        """Plan `rows` and `derive(journal)` against the journal and write them (all or
        nothing)."""
        self.types[account.account] = account.type
        records = await self.repo.load_journal()
        if derive is not None:
            rows = [*derive(records), *rows]
        plan = plan_import(records, Ledger(account_types=self.types), rows)
        await write_import(self.repo, plan, account)
        self.plans.append(plan)
        self.changed.set()
        return plan

    async def ledger(self) -> Ledger:
        """Return the ledger replayed from the journal."""
        ledger = Ledger(account_types=self.types)
        ledger.apply_all(r.to_event() for r in await self.repo.load_journal())
        return ledger


async def position(sink: RepoSink, account: str, symbol: str) -> Decimal:
    """Return the ledger's position in `symbol` in `account`."""
    return (await sink.ledger()).position(account, symbol)
