"""The one broker interface: the simulator, Alpaca and Interactive Brokers all implement it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Literal, Protocol, runtime_checkable

from daemon.events import Event, Fill, OrderSide, OrderStatus, Quote, SplitEvent
from ledger.conventions import LotMethod

EventSink = Callable[[Event], None]


class BrokerError(Exception):
    """Raise when the broker refuses or fails a request; `transient` ones may be retried."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class LotRelief:
    """How the broker relieves lots on a sale: specific lots, or only its fixed method.

    `chosen_by_user`: the specific lot is not named on the order but picked by the user at the
    broker after the trade (IB's Tax Optimizer, until 8:30 PM ET on the trade day); the daemon
    tells the user which lots to pick for each sale.
    """

    specific_lots: bool
    method: LotMethod = LotMethod.FIFO
    chosen_by_user: bool = False


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a broker can do, as data: read by the engine (relief, fractions) and `tlh doctor`.

    `order_types`: the order types the adapter places ("market", "limit"). `hours`: when its
    orders can execute, in words for `tlh doctor`; `extended_hours`: whether the adapter trades
    outside the regular session. `order_lookup`: how far back `get_order` (and `fills_since`)
    reach: "all" (any past order, by its client order id) or "today" (the current trading day
    only: an order sent on an earlier day is unknown to them, whatever became of it).
    """

    lot_relief: LotRelief
    fractional: bool
    order_types: frozenset[str]
    hours: str
    extended_hours: bool = False
    order_lookup: Literal["all", "today"] = "all"


@dataclass(frozen=True, slots=True)
class BrokerOptions:
    """What the daemon decides, from its own settings, for every adapter it builds.

    `orders_allowed`: orders may leave (mode paper, or live with live trading enabled).
    `live`: the real-money account may be used (live trading enabled, mode live or dry_run:
    a dry run may watch the live account); orders still leave only when `orders_allowed`.
    `stale_after_seconds`: a quote older than this is not traded on (`[prices]
    stale_after_seconds`).
    """

    orders_allowed: bool
    live: bool
    stale_after_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of `tlh doctor`: what was checked, whether it passed, and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to place; `client_order_id` is the intent's deterministic id."""

    client_order_id: str
    account: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    limit_price: Decimal | None = None
    lot_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """What the broker knows of one order."""

    client_order_id: str
    broker_order_id: str
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None
    symbol: str = ""
    side: OrderSide | None = None


class Broker(Protocol):
    """A brokerage connection: streams in, orders out, state for reconciliation.

    Implementations push quotes, order updates and fills to the `EventSink` given to
    `connect`, from the daemon's event loop. `submit` is idempotent on `client_order_id`: a
    retry after an error or timeout never creates a second order.
    """

    name: str
    capabilities: Capabilities

    async def connect(self, sink: EventSink) -> None:
        """Connect and start delivering events to `sink`."""

    async def close(self) -> None:
        """Stop streams and release connections."""

    async def subscribe(self, symbols: set[str]) -> None:
        """Stream quotes for exactly these symbols."""

    async def submit(self, order: OrderRequest) -> OrderSnapshot:
        """Place an order (or return the existing one with this client id)."""

    async def get_order(self, client_order_id: str) -> OrderSnapshot | None:
        """Return the order with this client id, or None if the broker has none."""

    async def cancel(self, client_order_id: str) -> None:
        """Ask the broker to cancel the order with this client id."""

    async def positions(self) -> dict[tuple[str, str], Decimal]:
        """Return {(account, symbol): quantity} as the broker holds them."""

    async def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return the executions after `since` (all when None), oldest first."""

    async def open_orders(self) -> Sequence[OrderSnapshot]:
        """Return every order still working at the broker (all of the account's, not only
        the daemon's)."""


@runtime_checkable
class MarketDataHealth(Protocol):
    """Optional broker capability: tell whether a stored quote may still price an order.

    A broker whose data feed can go stale (disconnected, mute) answers False for quotes of a
    stale feed or older than its limit; the daemon then waits for a fresh quote.
    """

    def quote_is_fresh(self, quote: Quote) -> bool:
        """Return whether `quote` is recent and its feed is live."""


@runtime_checkable
class StreamStates(Protocol):
    """Optional broker capability: tell which of its connections are up, by name.

    Read by the daemon's view (`tlh_stream_connected{stream}`, `/readyz`, MQTT's connectivity
    sensor) at every scrape, so it answers from what the adapter already tracks, without I/O.
    """

    def stream_states(self) -> Mapping[str, bool]:
        """Return {stream name: connected} for each connection the adapter runs now."""


@runtime_checkable
class Probing(Protocol):
    """Optional broker capability: check once that the broker answers and accepts us.

    The daemon probes before it starts (`daemon.broker_wait`), retrying while the error is
    transient (network down, HTTP 5xx), so that a daemon started before the network is up
    waits instead of failing. A broker without it is taken to be reachable.
    """

    async def probe(self) -> None:
        """Call the broker once, without retrying; raise `BrokerError` (transient or not)."""


@runtime_checkable
class QuoteGating(Protocol):
    """Optional broker capability: drop quotes the engine has no use for before parsing them.

    The broker owns the gate, a mapping of symbol to the highest bid the engine acts on, and
    the engine keeps it current. A quote bidding above its symbol's gate only becomes that
    symbol's latest quote, which `latest_quote` parses on demand; a symbol without an entry
    is never gated. On a market-data stream most quotes sit far above every trigger, so this
    keeps the daemon's cost per quote to a dictionary lookup and a float comparison.
    """

    def quote_gate(self) -> MutableMapping[str, float]:
        """Return the live gate for the engine to keep current."""

    def latest_quote(self, symbol: str) -> Quote | None:
        """Return the latest usable quote of `symbol` that the gate held back, or None."""

    def held_back_bid(self, symbol: str) -> float | None:
        """Return, once, the bid of the last quote of `symbol` the gate held back before the
        latest one that passed it (however old): the price the engine did not see before the
        quote it is handling, from which it tells a move like a split."""


@runtime_checkable
class AccountReports(Protocol):
    """Optional broker capability: the broker reports one account the daemon reconciles with.

    The daemon reconciles (`daemon.reconciliation`) through the `Broker` report queries
    (`positions`, `open_orders`, `fills_since`, `get_order`) of a broker naming its `account`.
    A broker without one (the simulator, whose book is the replay itself) is not reconciled.
    """

    account: str


ResyncHandler = Callable[[str], Awaitable[None]]


@runtime_checkable
class ResyncRequests(Protocol):
    """Optional broker capability: ask the daemon for a reconciliation pass.

    A broker whose streams do not replay what they sent while disconnected requests one after
    each reconnect, with its reason; the daemon gives the handler (`daemon.app`).
    """

    def on_resync(self, handler: ResyncHandler) -> None:
        """Call `handler(reason)` whenever the broker needs the daemon to reconcile."""


@runtime_checkable
class SelfChecks(Protocol):
    """Optional broker capability: the adapter's own checks for `tlh doctor`.

    `tlh doctor` keeps the general checks (configuration, journal, reconciliation, what would be
    harvested) in one place and asks the adapter for the checks only it knows (credentials,
    account, permissions, market-data type, lot method).
    """

    async def doctor_checks(self) -> Sequence[CheckResult]:
        """Run the adapter's checks once (connected or not) and return their results."""


@runtime_checkable
class QuoteSnapshots(Protocol):
    """Optional broker capability: the latest quote of symbols, on request (for previews)."""

    async def latest_quotes(self, symbols: Collection[str]) -> dict[str, Quote]:
        """Return the latest quote of each of `symbols` the broker has one for."""


@runtime_checkable
class SplitCalendar(Protocol):
    """Optional broker capability: tell which share splits a symbol has around a day.

    The engine consults it before harvesting after a price move whose ratio is near a split
    ratio (2, 3, 3/2, 4, 5, 7, 8, 10 or their reverses): prices that moved by a split the
    ledger has not applied would show a loss that is not there. Backtests answer from the price
    file's split column; a live broker from its corporate actions.
    """

    def splits_between(
        self, symbol: str, start: date, end: date
    ) -> Sequence[tuple[date, Fraction | Decimal]] | None:
        """Return the splits (effective day, new shares per old share) of `symbol` from `start`
        to `end` inclusive; an empty list when there are none; None when it cannot tell."""


@runtime_checkable
class SplitReports(Protocol):
    """Optional broker capability: report the splits that took effect at the broker.

    The broker applies a split to its positions on the ex-date; the ledger must follow before
    the two are compared. Each reconciliation pass (`daemon.reconciliation`) asks for the
    splits of the symbols the ledger holds and journals them (`HarvestEngine.on_split`, which
    journals each once) before it compares the ledger's positions with the broker's.
    """

    async def splits_due(self, symbols: set[str]) -> Sequence[SplitEvent]:
        """Return the splits of `symbols` in effect by today (within the broker's look-back),
        oldest first; raise `BrokerError` when the broker cannot tell."""


class ActivityKind(StrEnum):
    """What the ledger does with a broker's non-trade activity (`AccountActivity`)."""

    SPLIT = "split"  # every lot of `symbol` gets `ratio` times the shares
    CONVERSION = "conversion"  # lots of `symbol` become lots of `new_symbol`, `ratio` per share
    SPIN_OFF = "spin_off"  # `quantity` shares of `new_symbol` on `symbol`, `basis_fraction`
    SALE = "sale"  # cash for shares (cash merger, cash in lieu): `quantity` at `price`
    PURCHASE = "purchase"  # shares bought outside an order (dividend reinvestment)
    TRANSFER_IN = "transfer_in"  # shares received: a lot needs `price` (basis) and `acquired`
    TRANSFER_OUT = "transfer_out"  # shares delivered away: lots relieved, no sale
    DIVIDEND = "dividend"  # cash only: logged, no lot changes
    UNKNOWN = "unknown"  # not understood, or lacking data: halts `symbol`, naming `problem`


@dataclass(frozen=True, slots=True)
class AccountActivity:
    """A non-trade activity of the broker account, normalised for the ledger.

    `activity_id` is the broker's stable id (the journal's external id); `name` says which
    activity it is (type and id) in logs and halt reasons. `problem` is set when the activity
    cannot be applied as it stands (then `kind` is UNKNOWN, or the data it lacks is named).
    """

    activity_id: str
    name: str
    kind: ActivityKind
    symbol: str
    at: datetime
    new_symbol: str = ""
    ratio: Decimal | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    basis_fraction: Decimal | None = None
    acquired: date | None = None
    problem: str = ""


@runtime_checkable
class ActivityReports(Protocol):
    """Optional broker capability: report the account's non-trade activities (corporate
    actions, dividends, transfers), normalised (`AccountActivity`).

    Each reconciliation pass journals and applies them (once each: the activity id is the
    journal's external id) before it compares the ledger's positions with the broker's.
    """

    async def activities_since(self, since: datetime | None) -> Sequence[AccountActivity]:
        """Return the non-trade activities after `since` (all when None), oldest first."""


@runtime_checkable
class CashBalances(Protocol):
    """A broker that reports an account's cash, so the daemon sees deposits and dividends."""

    async def cash_balance(self, account: str) -> Decimal:
        """Return the settled cash of `account` that may be spent on purchases."""
        ...


@runtime_checkable
class SessionCalendar(Protocol):
    """Optional broker capability: the broker's own trading calendar, for `tlh doctor`.

    `tlh doctor` compares it with the exchange calendar the daemon's scheduler uses: a day on
    which the two disagree is a day the daemon would plan for a market the broker has closed
    (or miss an open one).
    """

    async def session_closes(self, start: date, end: date) -> Mapping[date, time]:
        """Return the close (New York time) of each trading day from `start` to `end`
        inclusive, as the broker has them; raise `BrokerError` when it cannot tell."""
