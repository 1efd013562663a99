"""In-memory brokerage account and matching model behind the fake Alpaca server.

Nothing here does I/O: every mutating method returns the ``trade_updates`` payloads it produced,
in order, and the server pushes them to the trading websocket. All quantities and prices are
``Decimal``; the JSON helpers turn them into the decimal strings Alpaca puts on the wire.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")

Number = Decimal | int | float | str

# Statuses that GET /v2/orders?status=open returns; everything else counts as closed.
CLOSED_STATUSES = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})
ORDER_TYPES = frozenset({"market", "limit", "stop", "stop_limit", "trailing_stop"})
TIME_IN_FORCE = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
SIDES = frozenset({"buy", "sell"})
TRADE_ACTIVITY_TYPES = frozenset({"FILL"})

MAX_CLIENT_ORDER_ID = 128
MAX_DECIMALS = 9
ORDERS_DEFAULT_LIMIT = 50
ORDERS_MAX_LIMIT = 500
ACTIVITIES_MAX_PAGE = 100
NOTIONAL_DUST = Decimal("0.01")
CALENDAR_FIRST = date(1970, 1, 1)
CALENDAR_LAST = date(2029, 12, 31)

# Alpaca error codes as they appear in the JSON body.
CODE_BAD_REQUEST = 40010001
CODE_UNAUTHORIZED = 40110000
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_UNPROCESSABLE = 42210000


class FillPolicy(enum.StrEnum):
    """How the fake routes a newly accepted order."""

    IMMEDIATE = "immediate"
    """Fill at once: market orders at the quote (ask/bid, else last price), limits at the limit."""
    QUOTE = "quote"
    """Fill only when marketable against the latest quote, at the quote, up to its size."""
    MANUAL = "manual"
    """Leave the order open until the test calls ``fill``/``cancel``/``expire``/``reject``."""
    REJECT = "reject"
    """Reject the order asynchronously (``rejected`` event) after accepting the POST."""
    CANCEL = "cancel"
    """Accept the order (``new``) and cancel it right away (``canceled``)."""


class ApiError(Exception):
    """Raise to answer a REST call with Alpaca's ``{"code": ..., "message": ...}`` error body."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        """Store the HTTP status, the Alpaca error code, the message and extra body fields."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """Return the JSON error body."""
        return {"code": self.code, "message": self.message, **self.extra}


def bad_request(message: str, status: int = 422) -> ApiError:
    """Build the error Alpaca returns for an invalid parameter."""
    return ApiError(status, CODE_BAD_REQUEST, message)


def to_decimal(value: Number) -> Decimal:
    """Convert a number or numeric string to ``Decimal`` without float artefacts."""
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def fmt(value: Decimal) -> str:
    """Format a ``Decimal`` the way Alpaca does: plain notation, no trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def fmt_ratio(numerator: Decimal, denominator: Decimal) -> str:
    """Format a ratio (percent change, P/L percent) rounded to 16 places; "0" if undefined."""
    if denominator == 0:
        return "0"
    return fmt((numerator / denominator).quantize(Decimal("1e-16")))


def iso(moment: datetime | None) -> str | None:
    """Render an aware datetime as RFC 3339 UTC with microseconds and a ``Z`` suffix."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str, name: str) -> datetime:
    """Parse an RFC 3339 timestamp or a bare date (taken as midnight New York time)."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), NY).astimezone(UTC)
        moment = datetime.fromisoformat(text.replace(" ", "+"))
    except ValueError as exc:
        raise bad_request(f"invalid {name}: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def decimals_of(value: Decimal) -> int:
    """Return how many digits a decimal has after the point."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass
class Asset:
    """One tradable security as ``GET /v2/assets/{symbol}`` describes it."""

    symbol: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    asset_class: str = "us_equity"
    exchange: str = "NASDAQ"
    name: str = ""
    status: str = "active"
    tradable: bool = True
    marginable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True

    def to_json(self) -> dict[str, Any]:
        """Return the Alpaca asset object."""
        return {
            "id": self.id,
            "class": self.asset_class,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": self.name or f"{self.symbol} fake asset",
            "status": self.status,
            "tradable": self.tradable,
            "marginable": self.marginable,
            "maintenance_margin_requirement": 30,
            "margin_requirement_long": "30",
            "margin_requirement_short": "30",
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "attributes": [],
        }


@dataclass
class Position:
    """A holding: signed quantity and its exact total cost (always positive)."""

    symbol: str
    asset: Asset
    qty: Decimal
    cost_basis: Decimal
    lastday_price: Decimal | None = None

    @property
    def avg_entry_price(self) -> Decimal:
        """Return the average entry price per share."""
        return self.cost_basis / abs(self.qty)


@dataclass
class Quote:
    """The latest NBBO-style quote the fake knows for a symbol."""

    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal


@dataclass
class FakeOrder:
    """An order as the fake stores it, with everything a test may want to assert on."""

    id: str
    client_order_id: str
    symbol: str
    asset: Asset
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    extended_hours: bool
    created_at: datetime
    body: dict[str, Any]
    """The JSON body exactly as received (numbers keep their JSON type: float or string)."""
    raw_body: bytes
    status: str = "accepted"
    updated_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    filled_qty: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    reject_reason: str | None = None
    expires_at: datetime | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every ``trade_updates`` payload emitted for this order, in order."""

    @property
    def is_open(self) -> bool:
        """Tell whether the order can still fill or be canceled."""
        return self.status not in CLOSED_STATUSES

    @property
    def remaining_qty(self) -> Decimal | None:
        """Return the unfilled quantity, or ``None`` for notional orders."""
        return None if self.qty is None else self.qty - self.filled_qty

    @property
    def remaining_notional(self) -> Decimal | None:
        """Return the unfilled dollar amount of a notional order, else ``None``."""
        return None if self.notional is None else self.notional - self.filled_notional

    @property
    def filled_avg_price(self) -> Decimal | None:
        """Return the volume-weighted fill price so far."""
        if self.filled_qty == 0:
            return None
        return (self.filled_notional / self.filled_qty).quantize(Decimal("1e-9")).normalize()

    @property
    def event_names(self) -> list[str]:
        """Return the event names emitted for this order, e.g. ``["new", "fill"]``."""
        return [event["event"] for event in self.events]

    def to_json(self) -> dict[str, Any]:
        """Return the Alpaca order object with numbers as strings."""

        def num(value: Decimal | None) -> str | None:
            return None if value is None else fmt(value)

        avg = self.filled_avg_price
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at or self.created_at),
            "submitted_at": iso(self.created_at),
            "filled_at": iso(self.filled_at),
            "expired_at": iso(self.expired_at),
            "canceled_at": iso(self.canceled_at),
            "failed_at": iso(self.failed_at),
            "replaced_at": iso(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset.id,
            "symbol": self.symbol,
            "asset_class": self.asset.asset_class,
            "notional": num(self.notional),
            "qty": num(self.qty),
            "filled_qty": fmt(self.filled_qty),
            "filled_avg_price": None if avg is None else fmt(avg),
            "order_class": "",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": "buy_to_open" if self.side == "buy" else "sell_to_close",
            "time_in_force": self.time_in_force,
            "limit_price": num(self.limit_price),
            "stop_price": num(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
            "expires_at": iso(self.expires_at),
        }


@dataclass
class _Activity:
    """An account activity with its sort key (insertion order) and filter time."""

    seq: int
    when: datetime
    activity_type: str
    payload: dict[str, Any]


def _number_field(body: Mapping[str, Any], name: str) -> Decimal | None:
    """Read an optional positive numeric field sent as a JSON number or a string."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise bad_request(f"{name} must be a number")
    try:
        number = to_decimal(value)
    except ValueError as exc:
        raise bad_request(f"invalid {name}: {value!r}") from exc
    if not number.is_finite() or number <= 0:
        raise bad_request(f"{name} must be > 0")
    return number


def _choice(body: Mapping[str, Any], name: str, allowed: Iterable[str]) -> str:
    """Read a required enumerated string field."""
    value = body.get(name)
    if value is None or value == "":
        raise bad_request(f"{name} is required")
    if not isinstance(value, str) or value.lower() not in allowed:
        raise bad_request(f"invalid {name}: {value!r}")
    return value.lower()


class AccountState:
    """One paper account: cash, positions, orders, activities, clock and the matching model."""

    def __init__(
        self,
        *,
        cash: Number = Decimal(100_000),
        auto_assets: bool = True,
        allow_short: bool = False,
    ) -> None:
        """Create an empty account with ``cash`` dollars.

        ``auto_assets`` makes every well-formed symbol a tradable, fractionable asset on first
        use; turn it off to get Alpaca's 404/422 for unknown symbols. ``allow_short`` lets sells
        exceed the long position (otherwise Alpaca's 403 "insufficient qty" is returned).
        """
        self.account_id = str(uuid.uuid4())
        self.account_number = "PA" + uuid.uuid4().hex[:10].upper()
        self.created_at = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
        self.cash = to_decimal(cash)
        self.last_equity: Decimal | None = None
        self.auto_assets = auto_assets
        self.allow_short = allow_short
        self.assets: dict[str, Asset] = {}
        self.positions: dict[str, Position] = {}
        self.quotes: dict[str, Quote] = {}
        self.last_prices: dict[str, Decimal] = {}
        self.orders: list[FakeOrder] = []
        self.trade_events: list[dict[str, Any]] = []
        self.default_policy = FillPolicy.IMMEDIATE
        self.default_reject_reason = "rejected by the fake's fill policy"
        self.symbol_policies: dict[str, tuple[FillPolicy, str | None]] = {}
        self.frozen_now: datetime | None = None
        self.market_open_override: bool | None = None
        self.holidays: set[date] = set()
        self.early_closes: dict[date, time] = {}
        self.splits: list[dict[str, Any]] = []  # corporate actions: forward and reverse splits
        self.corporate_actions_page = 2  # most actions per page, to exercise paging
        self._orders_by_id: dict[str, FakeOrder] = {}
        self._orders_by_cid: dict[str, FakeOrder] = {}
        self._activities: list[_Activity] = []
        self._last_stamp: datetime | None = None
        self._trade_seq = 0

    # ------------------------------------------------------------------ time

    def now(self) -> datetime:
        """Return the fake's current time (frozen if ``frozen_now`` is set)."""
        return self.frozen_now if self.frozen_now is not None else datetime.now(UTC)

    def stamp(self) -> datetime:
        """Return a strictly increasing timestamp for an order, fill or event."""
        moment = self.now()
        if self._last_stamp is not None and moment <= self._last_stamp:
            moment = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = moment
        return moment

    def is_trading_day(self, day: date) -> bool:
        """Tell whether ``day`` is a weekday that is not a configured holiday."""
        return day.weekday() < 5 and day not in self.holidays

    def session(self, day: date) -> tuple[datetime, datetime]:
        """Return the regular session's open and close on ``day`` as aware NY datetimes."""
        close = self.early_closes.get(day, time(16, 0))
        return datetime.combine(day, time(9, 30), NY), datetime.combine(day, close, NY)

    def clock_json(self) -> dict[str, Any]:
        """Return ``GET /v2/clock``."""
        now = self.now().astimezone(NY)
        is_open = False
        next_open: datetime | None = None
        next_close: datetime | None = None
        day = now.date()
        for _ in range(30):
            if self.is_trading_day(day):
                opens, closes = self.session(day)
                if opens <= now < closes:
                    is_open = True
                if next_close is None and now < closes:
                    next_close = closes
                if next_open is None and now < opens:
                    next_open = opens
            if next_open is not None and next_close is not None:
                break
            day += timedelta(days=1)
        if self.market_open_override is not None:
            is_open = self.market_open_override
        assert next_open is not None
        assert next_close is not None
        return {
            "timestamp": now.isoformat(timespec="microseconds"),
            "is_open": is_open,
            "next_open": next_open.isoformat(),
            "next_close": next_close.isoformat(),
        }

    def add_split(self, symbol: str, new_rate: Number, old_rate: Number, ex_date: date) -> None:
        """Announce a split of ``symbol``: ``new_rate`` shares for ``old_rate``, on ``ex_date``."""
        kind = "forward_split" if to_decimal(new_rate) > to_decimal(old_rate) else "reverse_split"
        day = ex_date.isoformat()
        self.splits.append(
            {
                "corporate_action_type": kind,
                "id": str(uuid.uuid4()),
                "symbol": symbol.upper(),
                "cusip": "000000000",
                "new_rate": float(new_rate),
                "old_rate": float(old_rate),
                "process_date": day,
                "ex_date": day,
                "record_date": day,
                "payable_date": day,
            }
        )

    def corporate_actions_json(self, query: Mapping[str, str]) -> dict[str, Any]:
        """Answer ``GET /v1/corporate-actions``: splits filtered by ``symbols``, ``types`` and
        process date ``start``..``end`` (default today), paged by ``page_token``."""
        symbols = set(query.get("symbols", "").upper().split(",")) - {""}
        types = set(query.get("types", "forward_split,reverse_split").split(","))
        today = self.now().astimezone(NY).date().isoformat()
        start, end = query.get("start", today), query.get("end", today)
        limit = min(int(query.get("limit") or 1000), self.corporate_actions_page)
        if query.get("sort", "asc") not in ("asc", "desc") or limit < 1:
            raise bad_request("invalid sort or limit")
        found = [
            a
            for a in sorted(self.splits, key=lambda a: (a["process_date"], a["symbol"]))
            if (not symbols or a["symbol"] in symbols)
            and a["corporate_action_type"] in types
            and start <= a["process_date"] <= end
        ]
        offset = int(query.get("page_token") or 0)
        page = found[offset : offset + limit]
        actions: dict[str, list[dict[str, Any]]] = {}
        for a in page:
            actions.setdefault(a["corporate_action_type"] + "s", []).append(a)
        more = offset + limit < len(found)
        return {
            "corporate_actions": actions,
            "next_page_token": str(offset + limit) if more else None,
        }

    def calendar_json(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """Return ``GET /v2/calendar`` for ``start``..``end`` (default 1970..2029, like Alpaca)."""
        try:
            start = date.fromisoformat(query["start"][:10]) if "start" in query else CALENDAR_FIRST
            end = date.fromisoformat(query["end"][:10]) if "end" in query else CALENDAR_LAST
        except ValueError as exc:
            raise bad_request("invalid start or end date") from exc
        days: list[dict[str, Any]] = []
        day = start
        while day <= end:
            if self.is_trading_day(day):
                _, closes = self.session(day)
                settle = day + timedelta(days=1)
                while not self.is_trading_day(settle):
                    settle += timedelta(days=1)
                days.append(
                    {
                        "date": day.isoformat(),
                        "open": "09:30",
                        "close": closes.strftime("%H:%M"),
                        "session_open": "0400",
                        "session_close": "2000",
                        "settlement_date": settle.isoformat(),
                    }
                )
            day += timedelta(days=1)
        return days

    # ---------------------------------------------------------------- assets

    def asset(self, symbol_or_id: str, *, create: bool | None = None) -> Asset:
        """Return the asset for a symbol or asset id, creating it if ``auto_assets`` allows."""
        key = symbol_or_id.upper()
        if key in self.assets:
            return self.assets[key]
        for asset in self.assets.values():
            if asset.id == symbol_or_id:
                return asset
        if create if create is not None else self.auto_assets:
            if not key or len(key) > 20 or not all(c.isalnum() or c in "./-" for c in key):
                raise ApiError(404, CODE_NOT_FOUND, f"asset not found for {symbol_or_id}")
            return self.add_asset(key)
        raise ApiError(404, CODE_NOT_FOUND, f"asset not found for {symbol_or_id}")

    def add_asset(self, symbol: str, **fields: Any) -> Asset:
        """Create or update an asset; ``fields`` are ``Asset`` attributes."""
        key = symbol.upper()
        asset = self.assets.get(key)
        if asset is None:
            crypto = "/" in key
            asset = Asset(
                symbol=key,
                asset_class="crypto" if crypto else "us_equity",
                exchange="CRYPTO" if crypto else "NASDAQ",
            )
            self.assets[key] = asset
        for name, value in fields.items():
            if not hasattr(asset, name):
                raise AttributeError(f"Asset has no field {name!r}")
            setattr(asset, name, value)
        return asset

    # ------------------------------------------------------------ positions

    def set_position(
        self,
        symbol: str,
        qty: Number,
        avg_price: Number,
        *,
        lastday_price: Number | None = None,
    ) -> None:
        """Set (or, with ``qty`` 0, remove) a position with the given average entry price."""
        asset = self.asset(symbol, create=True)
        quantity = to_decimal(qty)
        if quantity == 0:
            self.positions.pop(asset.symbol, None)
            return
        self.positions[asset.symbol] = Position(
            symbol=asset.symbol,
            asset=asset,
            qty=quantity,
            cost_basis=abs(quantity) * to_decimal(avg_price),
            lastday_price=None if lastday_price is None else to_decimal(lastday_price),
        )

    def current_price(self, symbol: str) -> Decimal | None:
        """Return the last trade price, else the quote midpoint, else ``None``."""
        if symbol in self.last_prices:
            return self.last_prices[symbol]
        quote = self.quotes.get(symbol)
        if quote is not None and quote.bid > 0 and quote.ask > 0:
            return (quote.bid + quote.ask) / 2
        return None

    def held_for_orders(self, symbol: str) -> Decimal:
        """Return the quantity reserved by open sell orders on ``symbol``."""
        held = Decimal(0)
        for order in self.orders:
            if order.symbol == symbol and order.side == "sell" and order.is_open:
                remaining = order.remaining_qty
                if remaining is not None:
                    held += remaining
        return held

    def position_json(self, position: Position) -> dict[str, Any]:
        """Return the Alpaca position object with numbers as strings."""
        avg = position.avg_entry_price
        price = self.current_price(position.symbol) or avg
        lastday = position.lastday_price or price
        market_value = position.qty * price
        cost_basis = position.cost_basis if position.qty > 0 else -position.cost_basis
        unrealized = market_value - cost_basis
        intraday = position.qty * (price - lastday)
        available = position.qty - self.held_for_orders(position.symbol)
        if position.qty > 0:
            available = max(available, Decimal(0))
        return {
            "asset_id": position.asset.id,
            "symbol": position.symbol,
            "exchange": position.asset.exchange,
            "asset_class": position.asset.asset_class,
            "asset_marginable": position.asset.marginable,
            "qty": fmt(position.qty),
            "qty_available": fmt(available),
            "avg_entry_price": fmt(avg),
            "side": "long" if position.qty > 0 else "short",
            "market_value": fmt(market_value),
            "cost_basis": fmt(cost_basis),
            "unrealized_pl": fmt(unrealized),
            "unrealized_plpc": fmt_ratio(unrealized, abs(cost_basis)),
            "unrealized_intraday_pl": fmt(intraday),
            "unrealized_intraday_plpc": fmt_ratio(intraday, abs(position.qty * lastday)),
            "current_price": fmt(price),
            "lastday_price": fmt(lastday),
            "change_today": fmt_ratio(price - lastday, lastday),
        }

    def positions_json(self) -> list[dict[str, Any]]:
        """Return ``GET /v2/positions`` sorted by symbol."""
        return [self.position_json(self.positions[s]) for s in sorted(self.positions)]

    def find_position(self, symbol_or_id: str) -> Position:
        """Return one position by symbol or asset id, or raise Alpaca's 404."""
        key = symbol_or_id.upper()
        if key in self.positions:
            return self.positions[key]
        for position in self.positions.values():
            if position.asset.id == symbol_or_id:
                return position
        raise ApiError(404, CODE_NOT_FOUND, "position does not exist")

    # --------------------------------------------------------------- account

    def open_buy_reserve(self) -> Decimal:
        """Return the cash an open buy order could still spend (for buying power)."""
        reserve = Decimal(0)
        for order in self.orders:
            if order.side != "buy" or not order.is_open:
                continue
            remaining_notional = order.remaining_notional
            if remaining_notional is not None:
                reserve += remaining_notional
                continue
            price = order.limit_price or self.reference_price(order.symbol, "buy")
            remaining = order.remaining_qty
            if price is not None and remaining is not None:
                reserve += remaining * price
        return reserve

    def account_json(self) -> dict[str, Any]:
        """Return ``GET /v2/account`` (the fields ``TradeAccount`` knows, as strings)."""
        long_value = Decimal(0)
        short_value = Decimal(0)
        for position in self.positions.values():
            value = position.qty * (self.current_price(position.symbol) or position.avg_entry_price)
            if value >= 0:
                long_value += value
            else:
                short_value += value
        equity = self.cash + long_value + short_value
        buying_power = max(self.cash - self.open_buy_reserve(), Decimal(0))
        return {
            "id": self.account_id,
            "account_number": self.account_number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": fmt(buying_power),
            "regt_buying_power": fmt(buying_power),
            "non_marginable_buying_power": fmt(buying_power),
            "options_buying_power": fmt(buying_power),
            "cash": fmt(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": fmt(equity),
            "equity": fmt(equity),
            "last_equity": fmt(self.last_equity if self.last_equity is not None else equity),
            "long_market_value": fmt(long_value),
            "short_market_value": fmt(short_value),
            "position_market_value": fmt(long_value + short_value),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "multiplier": "1",
            "shorting_enabled": self.allow_short,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": False,
            "created_at": iso(self.created_at),
            "options_approved_level": 0,
            "options_trading_level": 0,
            "crypto_tier": 1,
            "balance_asof": self.now().astimezone(NY).date().isoformat(),
        }

    # ---------------------------------------------------------------- orders

    def get_order(self, order_id: str) -> FakeOrder:
        """Return an order by id or raise Alpaca's 404."""
        order = self._orders_by_id.get(order_id)
        if order is None:
            raise ApiError(404, CODE_NOT_FOUND, "order not found")
        return order

    def get_order_by_client_id(self, client_order_id: str) -> FakeOrder:
        """Return an order by ``client_order_id`` or raise Alpaca's 404."""
        order = self._orders_by_cid.get(client_order_id)
        if order is None:
            raise ApiError(404, CODE_NOT_FOUND, f"order not found for {client_order_id}")
        return order

    def find_order(self, key: str) -> FakeOrder:
        """Return an order by id or by client order id."""
        order = self._orders_by_id.get(key) or self._orders_by_cid.get(key)
        if order is None:
            raise KeyError(f"no order with id or client_order_id {key!r}")
        return order

    def policy_for(self, symbol: str) -> tuple[FillPolicy, str]:
        """Return the fill policy (and reject reason) that applies to ``symbol``."""
        policy, reason = self.symbol_policies.get(symbol, (self.default_policy, None))
        return policy, reason or self.default_reject_reason

    def reference_price(self, symbol: str, side: str) -> Decimal | None:
        """Return the price a market order would take: ask for buys, bid for sells, else last."""
        quote = self.quotes.get(symbol)
        if quote is not None:
            price = quote.ask if side == "buy" else quote.bid
            if price > 0:
                return price
        return self.last_prices.get(symbol)

    def parse_order(
        self, body: Mapping[str, Any], raw_body: bytes, exact: Mapping[str, Any]
    ) -> FakeOrder:
        """Validate a ``POST /v2/orders`` body and build the (not yet stored) order.

        ``body`` is the JSON as received, ``exact`` the same JSON parsed with ``Decimal`` floats.
        """
        symbol = exact.get("symbol")
        if not symbol or not isinstance(symbol, str):
            raise bad_request("symbol is required")
        side = _choice(exact, "side", SIDES)
        order_type = _choice(exact, "type", ORDER_TYPES)
        tif = _choice(exact, "time_in_force", TIME_IN_FORCE)
        qty = _number_field(exact, "qty")
        notional = _number_field(exact, "notional")
        limit_price = _number_field(exact, "limit_price")
        stop_price = _number_field(exact, "stop_price")
        if (qty is None) == (notional is None):
            raise bad_request("qty or notional is required, but not both")
        if order_type in {"limit", "stop_limit"} and limit_price is None:
            raise bad_request("limit_price is required")
        if order_type in {"stop", "stop_limit"} and stop_price is None:
            raise bad_request("stop_price is required")
        order_class = exact.get("order_class") or "simple"
        if order_class != "simple":
            raise bad_request(f"order_class {order_class!r} is not supported by the fake")
        cid = exact.get("client_order_id")
        if cid is None or cid == "":
            cid = str(uuid.uuid4())
        if not isinstance(cid, str):
            raise bad_request("client_order_id must be a string")
        if len(cid) > MAX_CLIENT_ORDER_ID:
            raise bad_request("client_order_id must be no more than 128 characters")
        if cid in self._orders_by_cid:
            raise bad_request("client_order_id must be unique")
        asset = self._tradable_asset(symbol)
        fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
        for name, value in (("qty", qty), ("notional", notional)):
            if value is not None and decimals_of(value) > MAX_DECIMALS:
                raise bad_request(f"{name} must have at most 9 decimal places")
        if fractional:
            if not asset.fractionable:
                raise bad_request(f"asset {asset.symbol} is not fractionable")
            if asset.asset_class == "us_equity" and tif != "day":
                raise bad_request("fractional orders must be DAY orders")
            if notional is not None and order_type != "market":
                raise bad_request("notional orders are only supported for market orders")
        self._check_funds(asset.symbol, side, qty, notional, limit_price)
        now = self.stamp()
        expires_at = None
        if tif == "day":
            expires_at = datetime.fromisoformat(self.clock_json()["next_close"]).astimezone(UTC)
        return FakeOrder(
            id=str(uuid.uuid4()),
            client_order_id=cid,
            symbol=asset.symbol,
            asset=asset,
            side=side,
            type=order_type,
            time_in_force=tif,
            qty=qty,
            notional=notional,
            limit_price=limit_price,
            stop_price=stop_price,
            extended_hours=bool(exact.get("extended_hours", False)),
            created_at=now,
            updated_at=now,
            body=dict(body),
            raw_body=raw_body,
            expires_at=expires_at,
        )

    def _tradable_asset(self, symbol: str) -> Asset:
        """Return the asset for an order, or Alpaca's 422 if it is unknown or not tradable."""
        try:
            asset = self.asset(symbol)
        except ApiError as exc:
            raise ApiError(422, CODE_UNPROCESSABLE, f"asset not found for {symbol}") from exc
        if not asset.tradable or asset.status != "active":
            raise ApiError(422, CODE_UNPROCESSABLE, f"asset {asset.symbol} is not tradable")
        return asset

    def _check_funds(
        self,
        symbol: str,
        side: str,
        qty: Decimal | None,
        notional: Decimal | None,
        limit_price: Decimal | None,
    ) -> None:
        """Raise Alpaca's 403 for a sell beyond the available qty or a buy beyond buying power."""
        price = limit_price or self.reference_price(symbol, side)
        if side == "sell":
            if self.allow_short:
                return
            position = self.positions.get(symbol)
            existing = position.qty if position is not None else Decimal(0)
            held = self.held_for_orders(symbol)
            available = max(existing - held, Decimal(0))
            wanted = qty
            if wanted is None and notional is not None and price is not None:
                wanted = notional / price
            if existing <= 0:
                raise ApiError(403, CODE_FORBIDDEN, "account is not allowed to short")
            if wanted is not None and wanted > available:
                raise ApiError(
                    403,
                    CODE_FORBIDDEN,
                    f"insufficient qty available for order "
                    f"(requested: {fmt(wanted)}, available: {fmt(available)})",
                    available=fmt(available),
                    existing_qty=fmt(existing),
                    held_for_orders=fmt(held),
                    symbol=symbol,
                )
            return
        cost = notional if notional is not None else None
        if cost is None and qty is not None and price is not None:
            cost = qty * price
        if cost is not None and cost > self.cash - self.open_buy_reserve():
            raise ApiError(403, CODE_FORBIDDEN, "insufficient buying power")

    def store(self, order: FakeOrder) -> None:
        """Add a validated order to the book."""
        self.orders.append(order)
        self._orders_by_id[order.id] = order
        self._orders_by_cid[order.client_order_id] = order

    def route(self, order: FakeOrder) -> list[dict[str, Any]]:
        """Apply the symbol's fill policy to a newly stored order and return the events."""
        policy, reason = self.policy_for(order.symbol)
        if policy is FillPolicy.REJECT:
            return self.reject(order, reason)
        events = [self._transition(order, "new", "new")]
        if policy is FillPolicy.CANCEL:
            events += self.cancel(order)
        elif policy is FillPolicy.IMMEDIATE and order.type in {"market", "limit"}:
            price = order.limit_price if order.type == "limit" else None
            price = price or self.reference_price(order.symbol, order.side)
            if price is not None:
                events += self.fill(order, None, price)
        elif policy is FillPolicy.QUOTE:
            events += self._match_quote(order)
        return events

    def on_market_data(self, symbol: str) -> list[dict[str, Any]]:
        """Re-run matching for open orders on ``symbol`` after a new quote or trade."""
        events: list[dict[str, Any]] = []
        for order in list(self.orders):
            if order.symbol != symbol or not order.is_open:
                continue
            policy, _ = self.policy_for(symbol)
            if policy is FillPolicy.QUOTE:
                events += self._match_quote(order)
            elif policy is FillPolicy.IMMEDIATE and order.type == "market":
                price = self.reference_price(symbol, order.side)
                if price is not None:
                    events += self.fill(order, None, price)
        return events

    def _match_quote(self, order: FakeOrder) -> list[dict[str, Any]]:
        """Fill an order against the latest quote if it is marketable, up to the quote size."""
        quote = self.quotes.get(order.symbol)
        if quote is None or order.type not in {"market", "limit"}:
            return []
        if order.side == "buy":
            price, size = quote.ask, quote.ask_size
            marketable = order.limit_price is None or price <= order.limit_price
        else:
            price, size = quote.bid, quote.bid_size
            marketable = order.limit_price is None or price >= order.limit_price
        if price <= 0 or size <= 0 or not marketable:
            return []
        remaining = order.remaining_qty
        qty = None if remaining is None or size >= remaining else size
        return self.fill(order, qty, price)

    def fill(self, order: FakeOrder, qty: Decimal | None, price: Decimal) -> list[dict[str, Any]]:
        """Execute ``qty`` (default: all that remains) at ``price`` and return the event."""
        if not order.is_open:
            raise ValueError(f"order {order.id} is {order.status}, it cannot fill")
        if price <= 0:
            raise ValueError("fill price must be positive")
        if qty is None:
            remaining_notional = order.remaining_notional
            if remaining_notional is not None:
                qty = (remaining_notional / price).quantize(Decimal("1e-9"), rounding=ROUND_DOWN)
            else:
                qty = order.remaining_qty
        assert qty is not None
        remaining = order.remaining_qty
        if qty <= 0:
            raise ValueError("fill qty must be positive")
        if remaining is not None and qty > remaining:
            raise ValueError(f"fill qty {qty} exceeds the remaining {remaining}")
        moment = self.stamp()
        order.filled_qty += qty
        order.filled_notional += qty * price
        remaining_notional = order.remaining_notional
        if remaining_notional is not None:
            complete = remaining_notional < NOTIONAL_DUST
        else:
            complete = order.filled_qty == order.qty
        order.status = "filled" if complete else "partially_filled"
        order.updated_at = moment
        if complete:
            order.filled_at = moment
        position_qty = self._book_fill(order, qty, price)
        leaves = Decimal(0) if complete or remaining is None else remaining - qty
        kind = "fill" if complete else "partial_fill"
        self._add_activity(
            "FILL",
            moment,
            {
                "transaction_time": iso(moment),
                "type": kind,
                "price": fmt(price),
                "qty": fmt(qty),
                "side": order.side,
                "symbol": order.symbol,
                "leaves_qty": fmt(leaves),
                "order_id": order.id,
                "cum_qty": fmt(order.filled_qty),
                "order_status": order.status,
            },
        )
        return [
            self._event(
                order,
                kind,
                moment,
                price=fmt(price),
                qty=fmt(qty),
                position_qty=fmt(position_qty),
            )
        ]

    def _book_fill(self, order: FakeOrder, qty: Decimal, price: Decimal) -> Decimal:
        """Move cash and the position for one execution; return the new position qty."""
        signed = qty if order.side == "buy" else -qty
        self.cash -= signed * price
        self.last_prices[order.symbol] = price
        position = self.positions.get(order.symbol)
        old_qty = position.qty if position is not None else Decimal(0)
        new_qty = old_qty + signed
        if new_qty == 0:
            self.positions.pop(order.symbol, None)
        elif position is None or old_qty == 0:
            self.positions[order.symbol] = Position(order.symbol, order.asset, new_qty, qty * price)
        elif (old_qty > 0) == (signed > 0):
            position.qty = new_qty
            position.cost_basis += qty * price
        elif (old_qty > 0) == (new_qty > 0):
            position.cost_basis = position.avg_entry_price * abs(new_qty)
            position.qty = new_qty
        else:
            position.qty = new_qty
            position.cost_basis = abs(new_qty) * price
        return new_qty

    def cancel(self, order: FakeOrder) -> list[dict[str, Any]]:
        """Cancel an open order, or raise Alpaca's 422 if it is already closed."""
        self._require_open(order)
        return [self._transition(order, "canceled", "canceled", stamp_field="canceled_at")]

    def expire(self, order: FakeOrder) -> list[dict[str, Any]]:
        """Expire an open order (end of its time in force)."""
        self._require_open(order)
        return [self._transition(order, "expired", "expired", stamp_field="expired_at")]

    def reject(self, order: FakeOrder, reason: str) -> list[dict[str, Any]]:
        """Reject an open order; the reason is kept on the order, not sent on the wire."""
        self._require_open(order)
        order.reject_reason = reason
        return [self._transition(order, "rejected", "rejected", stamp_field="failed_at")]

    def replace(
        self, order: FakeOrder, exact: Mapping[str, Any], raw_body: bytes, body: Mapping[str, Any]
    ) -> tuple[FakeOrder, list[dict[str, Any]]]:
        """Replace an open order (``PATCH /v2/orders/{id}``); return the new order and events."""
        self._require_open(order)
        if order.filled_qty > 0:
            raise ApiError(422, CODE_UNPROCESSABLE, "partially filled orders cannot be replaced")
        qty = _number_field(exact, "qty") or order.qty
        limit_price = _number_field(exact, "limit_price") or order.limit_price
        stop_price = _number_field(exact, "stop_price") or order.stop_price
        tif = exact.get("time_in_force") or order.time_in_force
        cid = exact.get("client_order_id") or str(uuid.uuid4())
        if cid in self._orders_by_cid:
            raise bad_request("client_order_id must be unique")
        now = self.stamp()
        new = FakeOrder(
            id=str(uuid.uuid4()),
            client_order_id=cid,
            symbol=order.symbol,
            asset=order.asset,
            side=order.side,
            type=order.type,
            time_in_force=tif,
            qty=qty,
            notional=order.notional,
            limit_price=limit_price,
            stop_price=stop_price,
            extended_hours=order.extended_hours,
            created_at=now,
            updated_at=now,
            body=dict(body),
            raw_body=raw_body,
            replaces=order.id,
            expires_at=order.expires_at,
        )
        order.replaced_by = new.id
        events = [self._transition(order, "replaced", "replaced", stamp_field="replaced_at")]
        self.store(new)
        return new, events

    def _require_open(self, order: FakeOrder) -> None:
        """Raise Alpaca's 422 for an action on a closed order."""
        if not order.is_open:
            raise ApiError(422, CODE_UNPROCESSABLE, f'order is already in "{order.status}" state')

    def _transition(
        self, order: FakeOrder, status: str, event: str, *, stamp_field: str | None = None
    ) -> dict[str, Any]:
        """Set a new status (and its timestamp field) and return the matching event."""
        moment = self.stamp()
        order.status = status
        order.updated_at = moment
        if stamp_field is not None:
            setattr(order, stamp_field, moment)
        return self._event(order, event, moment)

    def custom_event(self, order: FakeOrder, event: str, **fields: Any) -> dict[str, Any]:
        """Record an arbitrary event (``pending_cancel``, ``restated``...) without a transition."""
        return self._event(order, event, self.stamp(), **fields)

    def _event(
        self, order: FakeOrder, event: str, moment: datetime, **fields: Any
    ) -> dict[str, Any]:
        """Build a ``trade_updates`` payload with a snapshot of the order and record it."""
        payload: dict[str, Any] = {
            "event": event,
            "execution_id": str(uuid.uuid4()),
            "order": order.to_json(),
            "timestamp": iso(moment),
            **fields,
        }
        order.events.append(payload)
        self.trade_events.append(payload)
        return payload

    def list_orders(self, query: Mapping[str, str]) -> list[FakeOrder]:
        """Return ``GET /v2/orders`` with Alpaca's defaults: open only, newest first, 50."""
        status = query.get("status", "open").lower()
        if status not in {"open", "closed", "all"}:
            raise bad_request(f"invalid status: {status!r}")
        try:
            limit = int(query.get("limit", ORDERS_DEFAULT_LIMIT))
        except ValueError as exc:
            raise bad_request("invalid limit") from exc
        if not 1 <= limit <= ORDERS_MAX_LIMIT:
            raise bad_request(f"limit must be between 1 and {ORDERS_MAX_LIMIT}")
        direction = query.get("direction", "desc").lower()
        if direction not in {"asc", "desc"}:
            raise bad_request(f"invalid direction: {direction!r}")
        after = parse_timestamp(query["after"], "after") if "after" in query else None
        until = parse_timestamp(query["until"], "until") if "until" in query else None
        symbols = (
            {s.strip().upper() for s in query["symbols"].split(",")} if "symbols" in query else None
        )
        side = query.get("side")
        selected = []
        for order in self.orders:
            if status == "open" and not order.is_open:
                continue
            if status == "closed" and order.is_open:
                continue
            if after is not None and order.created_at <= after:
                continue
            if until is not None and order.created_at >= until:
                continue
            if symbols is not None and order.symbol not in symbols:
                continue
            if side is not None and order.side != side:
                continue
            selected.append(order)
        if direction == "desc":
            selected.reverse()
        return selected[:limit]

    # ------------------------------------------------------------ activities

    def _add_activity(
        self, activity_type: str, moment: datetime, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Record an account activity and return its JSON."""
        self._trade_seq += 1
        local = moment.astimezone(NY)
        activity_id = f"{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}::{uuid.uuid4()}"
        payload = {
            "id": activity_id,
            "account_id": self.account_id,
            "activity_type": activity_type,
            **fields,
        }
        self._activities.append(_Activity(self._trade_seq, moment, activity_type, payload))
        return payload

    def add_activity(
        self, activity_type: str, *, when: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Add a non-trade activity (``SPLIT``, ``DIV``, ``ACATC``...); numbers become strings.

        The default fields are ``date`` (from ``when``), ``net_amount`` "0", ``description`` ""
        and ``status`` "executed"; anything in ``fields`` overrides them.
        """
        moment = when or self.stamp()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        base: dict[str, Any] = {
            "date": moment.astimezone(NY).date().isoformat(),
            "net_amount": "0",
            "description": "",
            "status": "executed",
        }
        for name, value in fields.items():
            base[name] = fmt(to_decimal(value)) if isinstance(value, Decimal | float) else value
        return self._add_activity(activity_type.upper(), moment, base)

    @property
    def activities(self) -> list[dict[str, Any]]:
        """Return every activity, oldest first."""
        return [activity.payload for activity in self._activities]

    def list_activities(
        self, query: Mapping[str, str], activity_type: str | None
    ) -> list[dict[str, Any]]:
        """Return one page of ``GET /v2/account/activities[/{type}]``."""
        types: set[str] | None = None
        if activity_type is not None:
            types = {activity_type.upper()}
        elif "activity_types" in query:
            types = {t.strip().upper() for t in query["activity_types"].split(",") if t.strip()}
        category = query.get("category")
        if category not in {None, "trade_activity", "non_trade_activity"}:
            raise bad_request(f"invalid category: {category!r}")
        direction = query.get("direction", "desc").lower()
        if direction not in {"asc", "desc"}:
            raise bad_request(f"invalid direction: {direction!r}")
        try:
            page_size = int(query.get("page_size", ACTIVITIES_MAX_PAGE))
        except ValueError as exc:
            raise bad_request("invalid page_size") from exc
        if not 1 <= page_size <= ACTIVITIES_MAX_PAGE:
            raise bad_request(f"page_size must be between 1 and {ACTIVITIES_MAX_PAGE}")
        after = parse_timestamp(query["after"], "after") if "after" in query else None
        until = parse_timestamp(query["until"], "until") if "until" in query else None
        on_date = date.fromisoformat(query["date"][:10]) if "date" in query else None
        selected: list[_Activity] = []
        for activity in self._activities:
            is_trade = activity.activity_type in TRADE_ACTIVITY_TYPES
            if types is not None and activity.activity_type not in types:
                continue
            if category == "trade_activity" and not is_trade:
                continue
            if category == "non_trade_activity" and is_trade:
                continue
            if after is not None and activity.when <= after:
                continue
            if until is not None and activity.when >= until:
                continue
            if on_date is not None and activity.when.astimezone(NY).date() != on_date:
                continue
            selected.append(activity)
        if direction == "desc":
            selected.reverse()
        token = query.get("page_token")
        if token:
            ids = [activity.payload["id"] for activity in selected]
            if token not in ids:
                raise bad_request("invalid page_token")
            selected = selected[ids.index(token) + 1 :]
        return [activity.payload for activity in selected[:page_size]]


def dumps(payload: Any) -> str:
    """Serialise a JSON payload compactly."""
    return json.dumps(payload, separators=(",", ":"))
