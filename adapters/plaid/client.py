"""The Plaid API through plaid-python: investments, and the token exchanges of `tlh plaid link`.

plaid-python is a synchronous urllib3 client: every call runs in a thread
(`asyncio.to_thread`). ``PRODUCT_NOT_READY`` (right after linking, Plaid is still fetching
the history) and rate limits (HTTP 429, ``RATE_LIMIT_EXCEEDED``) are retried with backoff
(`stamina`) for at most `PlaidSettings.retry_seconds` in all; every other error becomes one
`PlaidError` naming the account and Plaid's ``error_code`` — never the access token or the
secret: they are scrubbed from Plaid's message too (a server may echo them). Responses are
returned as plain dicts (the generated models' ``to_dict()``), after the models checked them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import plaid
import stamina
import urllib3
from plaid.api import plaid_api
from plaid.exceptions import OpenApiException
from plaid.model.investment_holdings_get_request_options import (
    InvestmentHoldingsGetRequestOptions,
)
from plaid.model.investments_holdings_get_request import InvestmentsHoldingsGetRequest
from plaid.model.investments_transactions_get_request import InvestmentsTransactionsGetRequest
from plaid.model.investments_transactions_get_request_options import (
    InvestmentsTransactionsGetRequestOptions,
)
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest

from adapters.plaid.settings import PlaidItem, PlaidSettings

PAGE_SIZE = 500  # Plaid's maximum `count`
REQUEST_TIMEOUT_SECONDS = 60.0
SANDBOX_INSTITUTION = "ins_109508"  # Plaid's sandbox "First Platypus Bank"
RETRIED_CODES = frozenset({"PRODUCT_NOT_READY", "RATE_LIMIT_EXCEEDED"})

T = TypeVar("T")


class PlaidError(RuntimeError):
    """A Plaid call failed; `str()` names the account (or step) and Plaid's error code."""

    def __init__(self, where: str, code: str, message: str, *, retryable: bool = False):
        super().__init__(f"{where}: Plaid error {code}: {message}")
        self.where = where
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Transactions:
    """All investment transactions of a date range, with the securities and accounts."""

    transactions: list[dict[str, Any]]
    securities: list[dict[str, Any]]
    accounts: list[dict[str, Any]]


class PlaidClient:
    """The calls tlh makes to Plaid, for one configuration."""

    def __init__(self, settings: PlaidSettings) -> None:
        if settings.client_id is None or settings.secret is None:
            missing = "client_id" if settings.client_id is None else "secret"
            raise PlaidError("[plaid]", "MISSING_CREDENTIALS", f"{missing} is not configured")
        configuration = plaid.Configuration(
            host=settings.host(),
            api_key={
                "clientId": settings.client_id.get_secret_value(),
                "secret": settings.secret.get_secret_value(),
            },
        )
        self._api = plaid_api.PlaidApi(plaid.ApiClient(configuration))
        self._retry_seconds = settings.retry_seconds
        self._secrets = settings.secret_values()

    async def investment_transactions(
        self, item: PlaidItem, start: date, end: date
    ) -> Transactions:
        """Return every investment transaction of `item` from `start` to `end`, paging with
        offset/count until `total_investment_transactions` are read."""
        transactions: list[dict[str, Any]] = []
        securities: dict[str, dict[str, Any]] = {}
        accounts: list[dict[str, Any]] = []
        total = None
        while total is None or len(transactions) < total:
            options = InvestmentsTransactionsGetRequestOptions(
                count=PAGE_SIZE, offset=len(transactions)
            )
            if item.account_id is not None:
                options.account_ids = [item.account_id]
            request = InvestmentsTransactionsGetRequest(
                access_token=item.token(), start_date=start, end_date=end, options=options
            )
            page = await self._call(
                item.account, self._api.investments_transactions_get, request, item.token()
            )
            batch = page["investment_transactions"]
            total = int(page["total_investment_transactions"])
            accounts = page["accounts"]
            for security in page["securities"]:
                securities[security["security_id"]] = security
            if not batch:  # the total shrank while paging: stop rather than loop
                break
            transactions.extend(batch)
        unique = list({t["investment_transaction_id"]: t for t in transactions}.values())
        return Transactions(unique, list(securities.values()), accounts)

    async def holdings(self, item: PlaidItem) -> dict[str, Any]:
        """Return `item`'s holdings response: holdings, securities, accounts."""
        request = InvestmentsHoldingsGetRequest(access_token=item.token())
        if item.account_id is not None:
            request.options = InvestmentHoldingsGetRequestOptions(account_ids=[item.account_id])
        return await self._call(
            item.account, self._api.investments_holdings_get, request, item.token()
        )

    async def sandbox_public_token(self) -> str:
        """Create a sandbox Item with the investments product; return its public token."""
        request = SandboxPublicTokenCreateRequest(
            institution_id=SANDBOX_INSTITUTION, initial_products=[Products("investments")]
        )
        response = await self._call("sandbox link", self._api.sandbox_public_token_create, request)
        return str(response["public_token"])

    async def exchange_public_token(self, public_token: str) -> tuple[str, str]:
        """Exchange a public token from Link; return the access token and the Item id."""
        request = ItemPublicTokenExchangeRequest(public_token=public_token)
        response = await self._call(
            "public token exchange", self._api.item_public_token_exchange, request, public_token
        )
        return str(response["access_token"]), str(response["item_id"])

    async def _call(
        self, where: str, method: Callable[..., Any], request: Any, *secrets: str
    ) -> dict[str, Any]:
        """Call `method(request)` in a thread, retrying what Plaid says to retry; `secrets`
        (beside the configured ones) never appear in its errors."""
        hidden = (*self._secrets, *secrets)
        async for attempt in stamina.retry_context(
            on=_retryable,
            attempts=None,
            timeout=self._retry_seconds,
            wait_initial=1.0,
            wait_max=30.0,
        ):
            with attempt:
                return await asyncio.to_thread(_invoke, where, method, request, hidden)
        raise AssertionError("unreachable: stamina re-raises the last error")


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, PlaidError) and exc.retryable


def _invoke(
    where: str, method: Callable[..., Any], request: Any, secrets: tuple[str, ...]
) -> dict[str, Any]:
    """Call the generated method; turn its failures into `PlaidError` without secrets."""
    try:
        response = method(request, _request_timeout=REQUEST_TIMEOUT_SECONDS)
    except plaid.ApiException as exc:
        raise _error(where, exc, secrets) from None
    except OpenApiException as exc:  # ApiValueError, ApiTypeError: a response off the schema
        message = _scrub(f"unexpected response: {exc}", secrets)
        raise PlaidError(where, "INVALID_RESPONSE", message) from None
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        raise PlaidError(
            where, "UNREACHABLE", f"cannot reach Plaid: {type(exc).__name__}"
        ) from None
    result: dict[str, Any] = response.to_dict()
    return result


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Return `text` with every secret (longest first) replaced by ``[redacted]``."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def _error(where: str, exc: plaid.ApiException, secrets: tuple[str, ...]) -> PlaidError:
    """Return the `PlaidError` for Plaid's error object in `exc` (or its HTTP status)."""
    try:
        body = json.loads(exc.body or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("error_code") or f"HTTP_{exc.status}")
    message = str(body.get("error_message") or exc.reason or "no message")
    request_id = body.get("request_id")
    if request_id:
        message += f" (request_id {request_id})"
    retryable = (
        exc.status == 429
        or code in RETRIED_CODES
        or body.get("error_type") == "RATE_LIMIT_EXCEEDED"
    )
    return PlaidError(where, _scrub(code, secrets), _scrub(message, secrets), retryable=retryable)
