"""A fake Plaid API on 127.0.0.1 that the real plaid-python client talks to.

JSON over HTTP as Plaid serves it (https://plaid.com/docs/api/products/investments/): POST
bodies carry the access token, the ``PLAID-CLIENT-ID`` / ``PLAID-SECRET`` headers the
credentials. Every key the generated models require is returned, nullable ones as null, or the
client raises. Errors are Plaid's error objects (HTTP 400, 429 for rate limits); a scenario can
queue errors for an endpoint (`fail_next`). The server runs on its own thread and event loop, so
that blocking callers (the sync client, a `tlh` subprocess) and async tests can all use it.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from aiohttp import web

CLIENT_ID = "fake-client-id-0001"
SECRET = "fake-plaid-secret-0001"
SANDBOX_INSTITUTION = "ins_109508"


@dataclass
class Security:
    """A security of a scenario (only the keys the tests vary; the rest are null)."""

    security_id: str
    ticker_symbol: str | None
    name: str
    type: str = "etf"
    is_cash_equivalent: bool = False
    close_price: float | None = None

    def wire(self) -> dict[str, Any]:
        """Return the security as Plaid sends it (every required key)."""
        return {
            "security_id": self.security_id,
            "isin": None,
            "cusip": None,
            "sedol": None,
            "institution_security_id": None,
            "institution_id": None,
            "proxy_security_id": None,
            "name": self.name,
            "ticker_symbol": self.ticker_symbol,
            "is_cash_equivalent": self.is_cash_equivalent,
            "type": self.type,
            "close_price": self.close_price,
            "close_price_as_of": None,
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
            "market_identifier_code": None,
            "sector": None,
            "industry": None,
            "cfi_code": None,
            "figi": None,
            "option_contract": None,
            "fixed_income": None,
        }


@dataclass
class Transaction:
    """An investment transaction: `quantity` > 0 for buys, < 0 for sells (Plaid's sign)."""

    investment_transaction_id: str
    account_id: str
    security_id: str | None
    date: date
    type: str
    subtype: str
    quantity: float
    price: float
    fees: float | None = 0.0
    name: str = "trade"
    iso_currency_code: str | None = "USD"
    transaction_datetime: datetime | None = None
    cancel_transaction_id: str | None = None

    def wire(self) -> dict[str, Any]:
        """Return the transaction as Plaid sends it."""
        return {
            "investment_transaction_id": self.investment_transaction_id,
            "account_id": self.account_id,
            "security_id": self.security_id,
            "date": self.date.isoformat(),
            "transaction_datetime": (
                None if self.transaction_datetime is None else self.transaction_datetime.isoformat()
            ),
            "cancel_transaction_id": self.cancel_transaction_id,
            "name": self.name,
            "quantity": self.quantity,
            "amount": round(self.quantity * self.price + (self.fees or 0.0), 2),
            "price": self.price,
            "fees": self.fees,
            "type": self.type,
            "subtype": self.subtype,
            "iso_currency_code": self.iso_currency_code,
            "unofficial_currency_code": None,
        }


@dataclass
class Holding:
    """A holding: one per account and security, with a total (nullable) cost basis."""

    account_id: str
    security_id: str
    quantity: float
    institution_price: float
    cost_basis: float | None
    tax_lots: list[dict[str, Any]] | None = None

    def wire(self) -> dict[str, Any]:
        """Return the holding as Plaid sends it (`tax_lots` only when the scenario has them)."""
        out: dict[str, Any] = {
            "account_id": self.account_id,
            "security_id": self.security_id,
            "institution_price": self.institution_price,
            "institution_price_as_of": None,
            "institution_price_datetime": None,
            "institution_value": round(self.quantity * self.institution_price, 2),
            "cost_basis": self.cost_basis,
            "quantity": self.quantity,
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
            "vested_quantity": None,
            "vested_value": None,
        }
        if self.tax_lots is not None:
            out["tax_lots"] = self.tax_lots
        return out


@dataclass
class Item:
    """A linked Item: its accounts (id -> subtype), securities, transactions and holdings."""

    item_id: str
    accounts: dict[str, str] = field(default_factory=dict)
    securities: list[Security] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    holdings: list[Holding] = field(default_factory=list)

    def accounts_wire(self) -> list[dict[str, Any]]:
        """Return the Item's accounts as Plaid sends them."""
        return [
            {
                "account_id": account_id,
                "balances": {
                    "available": None,
                    "current": 0.0,
                    "limit": None,
                    "iso_currency_code": "USD",
                    "unofficial_currency_code": None,
                    "last_updated_datetime": None,
                    "margin_loan_amount": None,
                },
                "mask": "0000",
                "name": f"{subtype} account",
                "official_name": None,
                "type": "investment",
                "subtype": subtype,
            }
            for account_id, subtype in self.accounts.items()
        ]

    def wire(self) -> dict[str, Any]:
        """Return the Item object of a response."""
        return {
            "item_id": self.item_id,
            "institution_id": SANDBOX_INSTITUTION,
            "institution_name": None,
            "webhook": None,
            "auth_method": None,
            "error": None,
            "available_products": [],
            "billed_products": ["investments"],
            "products": ["investments"],
            "consented_products": ["investments"],
            "consent_expiration_time": None,
            "update_type": "background",
        }


@dataclass(frozen=True)
class Failure:
    """A Plaid error object to answer with."""

    status: int
    error_type: str
    error_code: str
    error_message: str


PRODUCT_NOT_READY = Failure(
    400,
    "ITEM_ERROR",
    "PRODUCT_NOT_READY",
    "the requested product is not yet ready. please provide a webhook or try the request again "
    "later",
)
RATE_LIMIT = Failure(
    429,
    "RATE_LIMIT_EXCEEDED",
    "RATE_LIMIT_EXCEEDED",
    "rate limit exceeded for attempts to access this item. please try again later",
)
INVALID_ACCESS_TOKEN = Failure(
    400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "provided access token is in an invalid format"
)
ECHO = "{access_token}"  # in an error_message: the fake puts the request's token there
ECHOING_ACCESS_TOKEN = Failure(
    400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", f"access token {ECHO} is not valid here"
)


class FakePlaid:
    """The fake API: Items by access token, queued failures, and the requests it saw."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.failures: dict[str, list[Failure]] = defaultdict(list)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self._public: dict[str, str] = {}  # public token -> access token
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the base URL to give `plaid.Configuration(host=...)`."""
        return f"http://127.0.0.1:{self.port}"

    def add_item(self, access_token: str, item: Item) -> Item:
        """Link `item` under `access_token`; return it."""
        self.items[access_token] = item
        return item

    def fail_next(self, path: str, *failures: Failure) -> None:
        """Answer the next calls to `path` with `failures`, in order."""
        self.failures[path].extend(failures)

    def calls(self, path: str) -> list[dict[str, Any]]:
        """Return the bodies of the requests to `path`, in order."""
        return [body for p, body in self.requests if p == path]

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Serve on a free 127.0.0.1 port, on a thread of its own."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._serve())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-plaid", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        """Stop serving and join the thread."""
        loop = self._loop
        if loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        routes = {
            "/investments/transactions/get": self._transactions,
            "/investments/holdings/get": self._holdings,
            "/sandbox/public_token/create": self._sandbox_public_token,
            "/item/public_token/exchange": self._exchange,
        }
        for path, handler in routes.items():
            app.router.add_post(path, self._wrap(path, handler))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # --- plumbing -----------------------------------------------------------------------------

    def _wrap(self, path: str, handler: Any) -> Any:
        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            self.requests.append((path, body))
            self.headers.append(dict(request.headers))
            if (
                request.headers.get("PLAID-CLIENT-ID") != CLIENT_ID
                or request.headers.get("PLAID-SECRET") != SECRET
            ):
                return self._error(
                    Failure(
                        400,
                        "INVALID_INPUT",
                        "INVALID_API_KEYS",
                        "invalid client_id or secret provided",
                    )
                )
            if self.failures[path]:
                failure = self.failures[path].pop(0)
                echoed = failure.error_message.replace(ECHO, str(body.get("access_token")))
                return self._error(replace(failure, error_message=echoed))  # a hostile echo
            result: web.Response = await handler(body)
            return result

        return handle

    def _request_id(self) -> str:
        return f"req{next(self._ids):06d}"

    def _error(self, failure: Failure) -> web.Response:
        return web.json_response(
            {
                "error_type": failure.error_type,
                "error_code": failure.error_code,
                "error_code_reason": None,
                "error_message": failure.error_message,
                "display_message": None,
                "request_id": self._request_id(),
                "causes": [],
                "status": failure.status,
                "documentation_url": "https://plaid.com/docs/errors/",
                "suggested_action": None,
            },
            status=failure.status,
        )

    def _item(self, body: dict[str, Any]) -> Item | web.Response:
        item = self.items.get(str(body.get("access_token")))
        if item is None:
            return self._error(INVALID_ACCESS_TOKEN)
        return item

    def _invalid(self, message: str) -> web.Response:
        return self._error(Failure(400, "INVALID_REQUEST", "INVALID_FIELD", message))

    # --- endpoints ----------------------------------------------------------------------------

    async def _transactions(self, body: dict[str, Any]) -> web.Response:
        item = self._item(body)
        if isinstance(item, web.Response):
            return item
        options = body.get("options") or {}
        count, offset = int(options.get("count", 100)), int(options.get("offset", 0))
        if not 1 <= count <= 500:
            return self._invalid("count must be between 1 and 500")
        start, end = date.fromisoformat(body["start_date"]), date.fromisoformat(body["end_date"])
        if start > end:
            return self._invalid("start_date must be on or before end_date")
        wanted = set(options.get("account_ids") or item.accounts)
        matching = sorted(
            (t for t in item.transactions if start <= t.date <= end and t.account_id in wanted),
            key=lambda t: (t.date, t.investment_transaction_id),
            reverse=True,  # Plaid: newest first
        )
        page = matching[offset : offset + count]
        used = {t.security_id for t in page}
        return web.json_response(
            {
                "item": item.wire(),
                "accounts": item.accounts_wire(),
                "securities": [s.wire() for s in item.securities if s.security_id in used],
                "investment_transactions": [t.wire() for t in page],
                "total_investment_transactions": len(matching),
                "is_investments_fallback_item": False,
                "request_id": self._request_id(),
            }
        )

    async def _holdings(self, body: dict[str, Any]) -> web.Response:
        item = self._item(body)
        if isinstance(item, web.Response):
            return item
        used = {h.security_id for h in item.holdings}
        return web.json_response(
            {
                "accounts": item.accounts_wire(),
                "holdings": [h.wire() for h in item.holdings],
                "securities": [s.wire() for s in item.securities if s.security_id in used],
                "item": item.wire(),
                "is_investments_fallback_item": False,
                "request_id": self._request_id(),
            }
        )

    async def _sandbox_public_token(self, body: dict[str, Any]) -> web.Response:
        if body.get("institution_id") != SANDBOX_INSTITUTION:
            return self._invalid("unknown institution_id")
        n = next(self._ids)
        access = f"access-sandbox-{n:08d}-fake"
        public = f"public-sandbox-{n:08d}-fake"
        self._public[public] = access
        self.items[access] = Item(f"item-{n}", accounts={f"acct-{n}": "ira"})
        return web.json_response({"public_token": public, "request_id": self._request_id()})

    async def _exchange(self, body: dict[str, Any]) -> web.Response:
        access = self._public.pop(str(body.get("public_token")), None)
        if access is None:
            return self._error(
                Failure(
                    400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", "provided public token is expired"
                )
            )
        item = self.items[access]
        return web.json_response(
            {"access_token": access, "item_id": item.item_id, "request_id": self._request_id()}
        )
