"""The real plaid-python client against the fake Plaid: paging, retries, errors.

Plaid's paging and error objects: https://plaid.com/docs/api/products/investments/ and
https://plaid.com/docs/errors/ (PRODUCT_NOT_READY, RATE_LIMIT_EXCEEDED at HTTP 429).
"""

from __future__ import annotations

import pytest

from adapters.plaid.client import PAGE_SIZE, PlaidClient, PlaidError
from adapters.plaid.fetch import fetch_item
from tests.fake_plaid.server import (
    ECHOING_ACCESS_TOKEN,
    PRODUCT_NOT_READY,
    RATE_LIMIT,
    SECRET,
    Failure,
    FakePlaid,
    Transaction,
)

from .plaidkit import TODAY, TOKEN, days_ago, hold, ira_item, settings

TRANSACTIONS = "/investments/transactions/get"
HOLDINGS = "/investments/holdings/get"


async def test_transactions_are_read_across_pages_until_the_total(fake_plaid: FakePlaid) -> None:
    """Offset/count paging: 1,203 transactions take three pages of at most 500, every one read
    once (Plaid: count 1..500, page until total_investment_transactions)."""
    item = ira_item(fake_plaid)
    item.transactions += [
        Transaction(f"tx-{n:04d}", "acct-1", "sec-vti", days_ago(n % 700), "buy", "buy", 1, 10.0)
        for n in range(1203)
    ]
    hold(item, 1203, 12030.0)
    plaid = settings(fake_plaid)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)

    offsets = [body["options"]["offset"] for body in fake_plaid.calls(TRANSACTIONS)]
    assert offsets == [0, PAGE_SIZE, 2 * PAGE_SIZE]
    assert {body["options"]["count"] for body in fake_plaid.calls(TRANSACTIONS)} == {PAGE_SIZE}
    assert len({r.source_id for r in history.rows}) == 1203
    assert not [r for r in history.rows if r.source_id.startswith("plaid:opening")]


@pytest.mark.usefixtures("no_backoff")
@pytest.mark.parametrize("failure", [PRODUCT_NOT_READY, RATE_LIMIT], ids=lambda f: f.error_code)
async def test_a_retryable_error_is_retried_then_succeeds(
    fake_plaid: FakePlaid, failure: Failure
) -> None:
    """PRODUCT_NOT_READY (history still loading after link) and rate limits are retried."""
    item = ira_item(fake_plaid)
    item.transactions.append(
        Transaction("tx-1", "acct-1", "sec-vti", days_ago(3), "buy", "buy", 2, 200.0)
    )
    hold(item, 2, 400.0)
    fake_plaid.fail_next(TRANSACTIONS, failure)
    fake_plaid.fail_next(HOLDINGS, failure, failure)
    plaid = settings(fake_plaid)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)

    assert [r.source_id for r in history.rows] == ["plaid:tx-1"]
    assert len(fake_plaid.calls(TRANSACTIONS)) == 2
    assert len(fake_plaid.calls(HOLDINGS)) == 3


@pytest.mark.usefixtures("no_backoff")
async def test_retries_stop_at_their_budget(fake_plaid: FakePlaid) -> None:
    """A product that never gets ready fails with its code once the retries are spent."""
    ira_item(fake_plaid)
    fake_plaid.fail_next(TRANSACTIONS, *[PRODUCT_NOT_READY] * 10)
    plaid = settings(fake_plaid)

    with pytest.raises(PlaidError) as caught:
        await fetch_item(plaid, plaid.items[0], today=TODAY)

    assert caught.value.code == "PRODUCT_NOT_READY"
    assert len(fake_plaid.calls(TRANSACTIONS)) == 4  # no_backoff's attempts


async def test_a_hard_error_names_the_account_and_code_not_the_secrets(
    fake_plaid: FakePlaid,
) -> None:
    """INVALID_ACCESS_TOKEN is not retried; the error names the item's account and Plaid's
    error_code, never the access token or the secret, even when Plaid's message echoes it."""
    ira_item(fake_plaid)
    fake_plaid.fail_next(TRANSACTIONS, ECHOING_ACCESS_TOKEN)
    plaid = settings(fake_plaid)

    with pytest.raises(PlaidError) as caught:
        await fetch_item(plaid, plaid.items[0], today=TODAY)

    message = str(caught.value)
    assert "spouse-ira" in message
    assert "INVALID_ACCESS_TOKEN" in message
    assert TOKEN not in message
    assert SECRET not in message
    assert len(fake_plaid.calls(TRANSACTIONS)) == 1


async def test_credentials_travel_in_headers_and_the_token_in_the_body(
    fake_plaid: FakePlaid,
) -> None:
    """Plaid's auth: PLAID-CLIENT-ID / PLAID-SECRET headers, access_token in the JSON body."""
    item = ira_item(fake_plaid)
    hold(item, 1, 100.0)
    plaid = settings(fake_plaid)

    await PlaidClient(plaid).holdings(plaid.items[0])

    assert fake_plaid.headers[-1]["PLAID-SECRET"] == SECRET
    assert fake_plaid.calls(HOLDINGS)[-1]["access_token"] == TOKEN
