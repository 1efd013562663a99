"""The contract between the daemon and what watches it: the status page, MQTT and metrics.

The daemon implements `DaemonView` (`daemon.daemon_view`); the observing adapters
(`adapters.web`, `adapters.mqtt`) render what it returns and never reach into the engine. Money
is `Decimal`; losses are positive dollar amounts. Everything here is a frozen value: a snapshot
handed to an observer cannot change under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

ZERO = Decimal(0)

State = Literal["running", "paused", "halted", "disconnected"]
PauseSource = Literal["cli", "mqtt", "http"]

DECISION_OUTCOMES: tuple[str, ...] = (
    "harvest",
    "wash_guard",  # strategies.decision: a wash sale would follow
    "no_replacement",  # strategies.decision: no fresh, allowed replacement
    "paused",  # daemon.engine.PAUSED
    # daemon.orders: the order was denied locally
    "dry_run",
    "risk",
    "halted",
)
"""The outcomes of `tlh_decisions_total{outcome}`: a harvest, and the kind (the reason's first
word) of each skip the engine counts; observers show every one from the start, at 0. A broker's
rejection is counted under its own message's first word, which no list can foresee."""
ORDER_SIDES: tuple[str, ...] = ("buy", "sell")
ORDER_STATUSES: tuple[str, ...] = (
    "pending",
    "submitted",
    "accepted",
    "partially_filled",
    "pending_cancel",
    "filled",
    "canceled",
    "expired",
    "rejected",
    "denied",
)
"""The sides and statuses of `tlh_orders_total{side,status}` (an order intent's
`adapters.storage.records.IntentStatus`), every pair shown from the start, at 0."""

FRESH_SNAPSHOT_SECONDS = 1.0
"""The oldest status snapshot an observer is served unless it asks otherwise (`max_age`)."""

# Buckets of `tlh_order_latency_seconds`: a crossing quote to the broker's acknowledgement.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(frozen=True, slots=True)
class OpenLot:
    """One open tax lot, priced at the symbol's latest bid when there is one."""

    account: str
    symbol: str
    lot_id: str
    quantity: Decimal
    acquired: date
    basis: Decimal  # the adjusted basis, wash-sale adjustments included
    price: Decimal | None = None
    market_value: Decimal | None = None
    unrealized: Decimal | None = None  # market value less basis: negative is a loss


@dataclass(frozen=True, slots=True)
class HarvestRecord:
    """One harvest: a loss sale made by the daemon and the replacement bought for it."""

    intent_id: str
    day: date
    account: str
    symbol: str
    quantity: Decimal
    loss: Decimal  # the realised loss, positive dollars (the ledger's sale rows)
    estimated_tax_saved: Decimal
    replacement: str | None  # None: sold into cash


@dataclass(frozen=True, slots=True)
class WashWindow:
    """A wash-sale lockout: what may not happen to `symbol` in `account` until `until`.

    `no_buy`: sold at a loss on `since`, so buying it (or anything substantially identical)
    before `until` would wash the loss. `no_loss_sale`: bought on `since`, so a loss sale
    before `until` would be washed by that purchase. Either holds in every account of the
    household, IRAs included (IRC §1091, Rev. Rul. 2008-5): `account` is where the trade was.
    """

    symbol: str
    account: str
    kind: Literal["no_buy", "no_loss_sale"]
    since: date
    until: date


@dataclass(frozen=True, slots=True)
class PauseState:
    """Whether new orders are paused at runtime (`tlh pause`), by whom and since when."""

    paused: bool
    since: datetime | None = None
    by: PauseSource | None = None
    reason: str = ""


NOT_PAUSED = PauseState(paused=False)


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """What the daemon is doing now: the one source of the status page, MQTT state and the
    portfolio gauges, built by `daemon.snapshot.build_snapshot` (also for `tlh status`)."""

    at: datetime
    today: date  # the New York trading date of `at`
    mode: str
    live_trading_enabled: bool
    trading_enabled: bool  # new orders may leave: mode, live flag, kill switch and pause
    broker: str
    state: State
    pause: PauseState
    connected: bool | None  # None: not known (`tlh status` without the daemon)
    journal_entries: int
    orders_in_flight: int
    halted_symbols: tuple[str, ...]
    open_lots: tuple[OpenLot, ...]
    harvests: tuple[HarvestRecord, ...]  # every harvest in the journal, oldest first
    wash_windows: tuple[WashWindow, ...]
    # A direct index (`[index]`): the ex-ante annualised tracking error of its holdings
    # against the target, as the daemon last estimated it (None: no index, or not yet), and
    # the budget (`[index] max_tracking_error`; None: no index).
    index_tracking_error: float | None = None
    index_tracking_error_budget: Decimal | None = None

    def harvests_in(self, year: int) -> tuple[HarvestRecord, ...]:
        """Return the harvests made in calendar (tax) `year`."""
        return tuple(h for h in self.harvests if h.day.year == year)

    @property
    def harvests_this_year(self) -> tuple[HarvestRecord, ...]:
        """Return the harvests of the tax year of `today`."""
        return self.harvests_in(self.today.year)

    @property
    def harvested_loss_ytd(self) -> Decimal:
        """Return the losses harvested this tax year, positive dollars."""
        return sum((h.loss for h in self.harvests_this_year), ZERO)

    @property
    def estimated_tax_saved_ytd(self) -> Decimal:
        """Return the tax this year's harvests are estimated to save."""
        return sum((h.estimated_tax_saved for h in self.harvests_this_year), ZERO)

    @property
    def harvests_today(self) -> int:
        """Return how many harvests were made today."""
        return sum(1 for h in self.harvests if h.day == self.today)

    @property
    def last_harvest(self) -> HarvestRecord | None:
        """Return the latest harvest, if any."""
        return self.harvests[-1] if self.harvests else None

    @property
    def unrealized_loss(self) -> Decimal:
        """Return the unrealised loss of the priced lots at a loss, positive dollars."""
        losses = (-u for lot in self.open_lots if (u := lot.unrealized) is not None and u < 0)
        return sum(losses, ZERO)

    @property
    def portfolio_value(self) -> Decimal | None:
        """Return the market value of the open lots, None when any lot is unpriced."""
        values = [lot.market_value for lot in self.open_lots]
        if any(v is None for v in values):
            return None
        return sum((v for v in values if v is not None), ZERO)

    def as_json(self) -> dict[str, object]:
        """Return the snapshot as JSON values (`tlh status --json`): every field, and the
        totals above; Decimals as strings, dates and instants in ISO 8601."""
        out = _json(self)
        assert isinstance(out, dict)
        out["harvests_this_year"] = len(self.harvests_this_year)
        for name in (
            "harvested_loss_ytd",
            "estimated_tax_saved_ytd",
            "harvests_today",
            "unrealized_loss",
            "portfolio_value",
        ):
            out[name] = _json(getattr(self, name))
        return out


def _json(value: object) -> object:
    """Return `value` as JSON values: Decimals as strings, dates in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Cumulative counts of observations at or below each bound of `LATENCY_BUCKETS`."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    cumulative: tuple[int, ...] = (0,) * len(LATENCY_BUCKETS)
    count: int = 0
    total: float = 0.0


@dataclass(frozen=True, slots=True)
class Counters:
    """The process's counters and gauges, read from memory without I/O (cheap at every
    scrape): what the engine saw and decided since this process started."""

    quotes: int = 0
    decisions: Mapping[str, int] = field(default_factory=dict)  # "harvest" and each skip kind
    wash_sales_avoided: int = 0  # distinct positions the wash guard kept from a harvest
    orders: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (side, status)
    order_latency: LatencyHistogram = LatencyHistogram()
    intents_in_flight: int = 0
    halted_symbols: int = 0
    streams: Mapping[str, bool] = field(default_factory=dict)  # stream name -> connected
    last_quote_age_seconds: float | None = None
    tracking_error_ratio: float | None = None  # direct indexing, once it exists


@dataclass(frozen=True, slots=True)
class Health:
    """A health verdict and each check behind it: name -> "ok" or what is wrong; `detail`
    qualifies a verdict that passed (e.g. "starting")."""

    checks: Mapping[str, str]
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Return whether every check passed."""
        return all(v == "ok" for v in self.checks.values())

    @property
    def problems(self) -> list[str]:
        """Return what is wrong, one line per failed check."""
        return [f"{k}: {v}" for k, v in self.checks.items() if v != "ok"]

    def as_json(self) -> dict[str, object]:
        """Return the JSON body of `/healthz` and `/readyz`."""
        body: dict[str, object] = {
            "status": "ok" if self.ok else "fail",
            "checks": dict(self.checks),
            "problems": self.problems,
        }
        return body | ({"detail": self.detail} if self.detail else {})


@runtime_checkable
class DaemonView(Protocol):
    """What observers may read and do: read state, and pause or resume new orders."""

    def counters(self) -> Counters:
        """Return the counters and gauges held in memory (no I/O)."""
        ...

    async def snapshot(self, max_age: float = FRESH_SNAPSHOT_SECONDS) -> StatusSnapshot:
        """Return the current status, at most `max_age` seconds old: the view keeps the last
        one it built (building it may read the database and walks every open lot)."""
        ...

    def liveness(self) -> Health:
        """Return whether the engine still consumes events (`/healthz`)."""
        ...

    def readiness(self) -> Health:
        """Return whether the daemon is ready to trade (`/readyz`)."""
        ...

    async def set_paused(self, paused: bool, *, by: PauseSource, reason: str = "") -> PauseState:
        """Pause or resume new orders; persisted, so it survives a restart.

        A pause applies at once, before it is stored: when storing it fails this raises, and
        new orders stay paused in this process (a resume is stored first, then applied).
        """
        ...
