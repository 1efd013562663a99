"""Fetch one linked Item from Plaid as journal imports (`tlh import --plaid`, the daemon's sync)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from adapters.plaid.client import PlaidClient
from adapters.plaid.history import HISTORY_DAYS, ItemHistory, account_type, item_history
from adapters.plaid.settings import PlaidItem, PlaidSettings
from adapters.storage.records import JournalRecord


async def fetch_item(
    settings: PlaidSettings,
    item: PlaidItem,
    *,
    today: date,
    journal: Sequence[JournalRecord] = (),
    client: PlaidClient | None = None,
) -> ItemHistory:
    """Return `item`'s last 24 months of investment transactions and the opening lots that
    make the journal's position (`journal`: what it holds now) equal Plaid's holdings.

    Raise `adapters.plaid.client.PlaidError` (naming the account and Plaid's error code) when
    Plaid fails, `adapters.importers.InputError` when its data cannot be imported.
    """
    client = client or PlaidClient(settings)
    start = today - timedelta(days=HISTORY_DAYS)
    history = await client.investment_transactions(item, start, today)
    holdings = await client.holdings(item)
    accounts = holdings["accounts"] or history.accounts
    if item.account_id is not None:
        accounts = [a for a in accounts if a["account_id"] == item.account_id]
    kind = item.type or account_type(item.account, accounts)
    return item_history(
        item.account,
        kind,
        history.transactions,
        history.securities,
        holdings,
        start,
        journal,
    )
