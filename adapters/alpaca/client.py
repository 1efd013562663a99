"""Alpaca's trading REST API, called from the daemon's loop through one worker thread.

alpaca-py's `TradingClient` is synchronous (`requests`) and not safe to share between threads,
so every call runs in a single-thread executor, which also keeps calls in order. Responses stay
raw JSON (`raw_data=True`): numbers arrive as strings and `parsing` makes them `Decimal`.

Two SDK defaults are changed on our clients, here and nowhere else: requests get a timeout
(`requests` has none, so a silent server would hang the worker for good), and the SDK's own
retries are off (it sleeps 3 s in the worker and re-POSTs orders on 429/504). Retries happen
here instead, asynchronously, and only for idempotent calls; order submission retries in the
broker, which looks the order up by client order id before it sends it again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import requests
import stamina
from alpaca.common.exceptions import APIError
from alpaca.data.enums import CorporateActionsType
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.requests import CorporateActionsRequest
from alpaca.trading.client import TradingClient

from adapters.base import BrokerError

T = TypeVar("T")
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DUPLICATE_CLIENT_ID = "client_order_id must be unique"


class RestError(BrokerError):
    """An Alpaca REST call failed: HTTP `status` (None for a network error), Alpaca `code`."""

    def __init__(
        self, message: str, *, status: int | None, code: int | None = None, transient: bool
    ) -> None:
        super().__init__(message, transient=transient)
        self.status = status
        self.code = code

    @property
    def not_found(self) -> bool:
        """Return whether the resource does not exist (HTTP 404)."""
        return self.status == 404

    @property
    def duplicate_client_id(self) -> bool:
        """Return whether an order with this client order id exists already."""
        return self.status == 422 and DUPLICATE_CLIENT_ID in str(self)


class _TimeoutSession(requests.Session):
    """A `requests` session that applies a default timeout to every request.

    With `url`, the environment's settings for it (proxies, CA bundle) are resolved once, here,
    and the session stops consulting the environment: otherwise `requests` looks up proxy
    variables and reads ~/.netrc on every call, about a third of the time an order takes to
    leave under load. Authentication is by header, so netrc never applied.
    """

    def __init__(self, timeout: float, url: str | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        if url is not None:
            settings = self.merge_environment_settings(url, {}, None, None, None)
            self.proxies.update(settings["proxies"])
            self.verify = settings["verify"]
            self.trust_env = False

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        """Send a request with the default timeout unless one is given."""
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(*args, **kwargs)


def _to_rest_error(exc: Exception) -> RestError:
    """Translate an SDK or network exception into a `RestError` (never with credentials)."""
    if isinstance(exc, APIError):
        status = exc.status_code
        try:
            body = json.loads(str(exc))
            message, code = str(body.get("message", "")), body.get("code")
        except (ValueError, AttributeError):
            message, code = str(exc)[:200], None
        return RestError(
            f"HTTP {status}: {message}",
            status=status,
            code=code if isinstance(code, int) else None,
            transient=status in TRANSIENT_STATUS,
        )
    kind = type(exc).__name__
    return RestError(f"network error ({kind})", status=None, transient=True)


class AlpacaRest:
    """Raw JSON calls to the trading REST API, in one worker thread, with async retries."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        base_url: str,
        *,
        paper: bool,
        timeout: float = 10.0,
        attempts: int = 3,
        retry_wait: float = 0.2,
    ) -> None:
        self._client = TradingClient(
            api_key, secret_key, paper=paper, raw_data=True, url_override=base_url
        )
        # The two SDK defaults this module exists to change (see the module docstring).
        self._client._session = _TimeoutSession(timeout, base_url)
        self._client._retry = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alpaca-rest")
        self._attempts = attempts
        self._retry_wait = retry_wait
        self.calls = 0

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        self.calls += 1
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except (APIError, requests.RequestException) as exc:
            raise _to_rest_error(exc) from None

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET `path` (below ``/v2``); retry transient failures, it changes nothing."""
        async for attempt in stamina.retry_context(
            on=lambda e: isinstance(e, RestError) and e.transient,
            attempts=self._attempts,
            wait_initial=self._retry_wait,
            wait_max=2.0,
            wait_jitter=self._retry_wait,
            timeout=None,
        ):
            with attempt:
                return await self._run(self._client.get, path, params)
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_once(self, path: str) -> Any:
        """GET `path` (below ``/v2``) once; the caller decides whether and how to retry."""
        return await self._run(self._client.get, path)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` once; the caller decides whether and how to retry."""
        return await self._run(self._client.post, path, body)

    async def delete(self, path: str) -> Any:
        """DELETE `path` once."""
        return await self._run(self._client.delete, path)

    async def pages(
        self, path: str, params: dict[str, Any], *, page_size: int, token: str = "page_token"
    ) -> list[Any]:
        """GET every page of an activities-style listing (next page after the last item's id)."""
        query = {**params, "page_size": page_size}
        items: list[Any] = []
        while True:
            page = await self.get(path, query)
            if not isinstance(page, list):
                raise RestError(f"{path}: expected a list", status=None, transient=False)
            items.extend(page)
            if len(page) < page_size or not isinstance(page[-1], dict) or "id" not in page[-1]:
                return items
            query[token] = page[-1]["id"]

    def close(self) -> None:
        """Stop the worker thread (a call in flight finishes in the background)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def latest_quotes(
    api_key: str,
    secret_key: str,
    symbols: list[str],
    *,
    feed: str,
    url: str | None = None,
    timeout: float = 10.0,
) -> dict[str, tuple[Decimal, Decimal]]:
    """Return {symbol: (bid, ask)} from the market-data REST API's latest stock quotes.

    Blocking: call it from a worker thread. `url` overrides the data API's base URL (a local
    fake or a proxy). Symbols without a usable quote are left out.
    """
    client = StockHistoricalDataClient(api_key, secret_key, raw_data=True, url_override=url)
    client._session = _TimeoutSession(timeout)
    client._retry = 0
    try:
        raw = client.get("/stocks/quotes/latest", {"symbols": ",".join(symbols), "feed": feed})
    except (APIError, requests.RequestException) as exc:
        raise _to_rest_error(exc) from None
    quotes = raw.get("quotes", {}) if isinstance(raw, dict) else {}
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for symbol, quote in quotes.items():
        try:
            bid, ask = Decimal(str(quote["bp"])), Decimal(str(quote["ap"]))
        except (KeyError, TypeError, ArithmeticError):
            continue
        if bid.is_finite() and ask.is_finite() and Decimal(0) < bid <= ask:
            out[symbol] = (bid, ask)
    return out


def split_actions(
    api_key: str,
    secret_key: str,
    symbols: list[str],
    start: date,
    end: date,
    *,
    url: str,
    timeout: float = 10.0,
) -> Any:
    """Return the raw forward and reverse splits of `symbols` from `start` to `end` inclusive.

    Blocking: call it from a worker thread. Market-data REST ``GET /v1/corporate-actions``
    through alpaca-py's `CorporateActionsClient`, which follows ``next_page_token`` and merges
    the pages into one ``{"forward_splits": [...], "reverse_splits": [...]}``.
    """
    client = CorporateActionsClient(api_key, secret_key, raw_data=True, url_override=url)
    client._session = _TimeoutSession(timeout)
    client._retry = 0
    request = CorporateActionsRequest(
        symbols=symbols,
        types=[CorporateActionsType.FORWARD_SPLIT, CorporateActionsType.REVERSE_SPLIT],
        start=start,
        end=end,
        limit=None,  # every page, not the SDK's first 1000 actions
    )
    try:
        return client.get_corporate_actions(request)
    except (APIError, requests.RequestException, ValueError) as exc:
        raise _to_rest_error(exc) from None
