"""What only the Alpaca adapter can check for `tlh doctor`, and its quotes on request.

`tlh doctor` (`daemon/cli/doctor.py`) runs the general checks against any broker and asks the
adapter for its own (`adapters.base.SelfChecks`): the credentials are present, the account is
active and may trade (not blocked, not suspended by the user), which endpoints are in use, the
market clock, and where the adapter's quotes on request come from (`latest_quotes`: the
market-data REST API, else each position's current price, for an account without a
market-data subscription for the symbol). `session_closes` answers the general calendar check
from Alpaca's ``/calendar``. Secrets are never part of a result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

from adapters.alpaca.client import latest_quotes
from adapters.alpaca.parsing import dec, is_crypto
from adapters.base import BrokerError, CheckResult
from daemon.events import Quote

if TYPE_CHECKING:
    from adapters.alpaca.broker import AlpacaBroker

REST_QUOTES = "latest quotes (market-data REST)"
POSITION_PRICES = "positions' current price"
_BLOCKS = ("account_blocked", "trading_blocked", "trade_suspended_by_user")


async def doctor_checks(broker: AlpacaBroker) -> list[CheckResult]:
    """Run the Alpaca-specific checks once and return their results."""
    c = broker.config
    checks = [CheckResult("credentials", True, "API key and secret key present")]
    try:
        account = await broker.account_info()
    except Exception as exc:
        checks.append(CheckResult("account", False, f"{c.rest_url}: {exc}"))
        return checks
    blocked = [k for k in _BLOCKS if account.get(k)]
    status = str(account.get("status", "?"))
    checks.append(
        CheckResult(
            "account",
            status == "ACTIVE" and not blocked,
            f"{status}{' ' + ', '.join(blocked) if blocked else ''}, account "
            f"{account.get('account_number', '?')}, cash {account.get('cash', '?')}, "
            f"buying power {account.get('buying_power', '?')}, "
            f"{'paper' if c.paper else 'LIVE'} trading API {c.rest_url}",
        )
    )
    checks.append(await _market_clock(broker))
    checks.append(await _market_data(broker))
    return checks


async def _market_clock(broker: AlpacaBroker) -> CheckResult:
    try:
        clock = await broker.clock()
    except Exception as exc:
        return CheckResult("market clock", False, str(exc))
    return CheckResult(
        "market clock",
        True,
        f"open until {clock.next_close:%Y-%m-%d %H:%M} UTC"
        if clock.is_open
        else f"closed; opens {clock.next_open:%Y-%m-%d %H:%M} UTC",
    )


async def _market_data(broker: AlpacaBroker) -> CheckResult:
    """Tell where quotes on request come from for the symbols held (informational: the
    daemon itself trades on the streams)."""
    try:
        held = sorted({symbol for _account, symbol in await broker.positions()})
        _quotes, sources = await quotes_and_sources(broker, held)
    except Exception as exc:
        return CheckResult("market data", False, f"quotes on request: {exc}")
    if not held:
        return CheckResult("market data", True, "no position to price")
    return CheckResult("market data", True, f"held symbols priced from {' and '.join(sources)}")


async def quotes_and_sources(
    broker: AlpacaBroker, symbols: Collection[str]
) -> tuple[dict[str, Quote], list[str]]:
    """Return the latest quote of each of `symbols` Alpaca has one for, and where they came
    from: the market-data REST API for stocks, else each position's current price."""
    c = broker.config
    now = datetime.now(UTC)
    prices: dict[str, tuple[Decimal, Decimal]] = {}
    sources: list[str] = []
    stocks = [s for s in symbols if not is_crypto(s)]
    if stocks:
        try:
            prices = await asyncio.to_thread(
                latest_quotes,
                c.api_key,
                c.secret_key,
                stocks,
                feed=c.feed,
                url=c.data_url,
                timeout=c.rest_timeout,
            )
            sources.append(REST_QUOTES)
        except Exception:
            prices = {}
    missing = [s for s in symbols if s not in prices]
    if missing:
        raw = await broker.rest_get("/positions")
        for item in raw if isinstance(raw, list) else []:
            symbol = item.get("symbol")
            if symbol in missing and item.get("current_price"):
                price = dec(item["current_price"], "current_price")
                prices[symbol] = (price, price)
        sources.append(POSITION_PRICES)
    quotes = {s: Quote(s, float(bid), float(ask), now) for s, (bid, ask) in prices.items()}
    return quotes, sources


async def session_closes(broker: AlpacaBroker, start: date, end: date) -> dict[date, time]:
    """Return Alpaca's trading days from `start` to `end` with their close (New York time)."""
    raw = await broker.rest_get("/calendar", {"start": start.isoformat(), "end": end.isoformat()})
    try:
        return {date.fromisoformat(d["date"]): time.fromisoformat(d["close"]) for d in raw}
    except (KeyError, TypeError, ValueError) as exc:
        raise BrokerError(f"unreadable calendar from Alpaca: {exc}") from None
