"""A real daemon on a real database, driven by hand: the shared rig of the `tests/daemon` tests.

Nothing of ours is mocked. `Rig` wraps what `daemon.app.build_daemon` wires (engine, order
manager, repository, ledger) over the simulated broker (`SpyBroker`: `SimBroker` plus an
observation hook and a switchable API outage) and a `SimulatedClock`, and offers the few
moves the specifications need: hold a lot, record a past trade, feed a quote the way a broker
stream delivers it (`engine.handle` then `engine.drain`), and restart on the same database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import BrokerError, OrderRequest, OrderSnapshot
from adapters.sim.broker import SimBroker, SimCosts
from adapters.storage.records import Intent, IntentKind, JournalKind, JournalRecord
from adapters.storage.repository import Repository
from daemon.app import Daemon, build_daemon
from daemon.clock import SimulatedClock
from daemon.engine import HarvestEngine
from daemon.events import Fill, Quote
from daemon.orders import OrderManager, follow_up_id, intent_id
from daemon.settings import Settings
from ledger.engine import Ledger
from ledger.model import Action, Trade

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2024, 3, 4, 10, 0, tzinfo=NEW_YORK)  # a Monday morning
"""When every rig's clock starts."""
LONG_AGO = date(2023, 11, 1)
"""When the lots under test were bought: far outside any 30-day window of T0."""

TAXABLE = "taxable"
IRA = "ira"


def make_settings(**overrides: Any) -> Settings:
    """Return the household under test; keyword sections (e.g. `harvest={...}`) replace ours.

    Substitutes: VTI -> SCHB -> ITOT (total market) and VEA -> IEFA (developed markets).
    Declared identical: VTI ~ VTSAX (same fund, ETF and mutual-fund share classes) and
    SCHB ~ SWTSX.
    """
    base: dict[str, Any] = {
        "substitutes": [{"symbols": ["VTI", "SCHB", "ITOT"]}, {"symbols": ["VEA", "IEFA"]}],
        "identical": [{"symbols": ["VTI", "VTSAX"]}, {"symbols": ["SCHB", "SWTSX"]}],
        "accounts": {TAXABLE: "taxable", IRA: "ira"},
        # Each test quote is meant as it is: no confirming quotes (tests/quote_filter has those).
        "prices": {"confirm_quotes": 0},
    }
    return Settings(**{**base, **overrides})


class SpyBroker(SimBroker):
    """The simulated broker, noting what our database held for each order as it arrived.

    Observation is added: `stored_at_submit[client_order_id]` is the intent stored under that
    id at the moment `submit` was called (None if there was none). And an outage, as a real
    broker's API has them: while `fills_outage` is positive, each `fills_since` call fails
    with a transient `BrokerError` and counts it down.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.repo: Repository | None = None
        self.stored_at_submit: dict[str, Intent | None] = {}
        self.fills_outage = 0
        self.stale_feed: set[str] = set()
        self.after_submit: Callable[[OrderRequest], None] = lambda order: None

    def quote_is_fresh(self, quote: Quote) -> bool:
        """Answer as a broker whose feed of the symbols in `stale_feed` went quiet
        (adapters.base.MarketDataHealth): their stored quotes may not price an order."""
        return quote.symbol not in self.stale_feed

    async def fills_since(self, since: datetime | None) -> list[Fill]:
        """Fail during an outage, else behave exactly as `SimBroker.fills_since`."""
        if self.fills_outage > 0:
            self.fills_outage -= 1
            raise BrokerError("executions endpoint unavailable (HTTP 503)", transient=True)
        return await super().fills_since(since)

    async def submit(self, order: OrderRequest) -> OrderSnapshot:
        """Record the stored intent, then behave exactly as `SimBroker.submit`."""
        if self.repo is not None and order.client_order_id not in self.stored_at_submit:
            self.stored_at_submit[order.client_order_id] = await self.repo.get_intent(
                order.client_order_id
            )
        snapshot = await super().submit(order)
        self.after_submit(order)
        return snapshot


@dataclass
class Rig:
    """One running daemon over one database, one simulated broker and one simulated clock."""

    daemon: Daemon
    broker: SimBroker
    clock: SimulatedClock
    settings: Settings
    url: str
    seqs: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    closed: bool = False

    @property
    def engine(self) -> HarvestEngine:
        """The harvest engine."""
        return self.daemon.engine

    @property
    def orders(self) -> OrderManager:
        """The order manager."""
        return self.daemon.orders

    @property
    def repo(self) -> Repository:
        """The repository over the rig's database."""
        return self.daemon.repo

    @property
    def ledger(self) -> Ledger:
        """The engine's in-memory ledger."""
        return self.daemon.ledger

    def today(self) -> date:
        """The trading date in New York."""
        return self.clock.now().astimezone(NEW_YORK).date()

    # -- history -------------------------------------------------------------------------------

    async def hold(
        self,
        symbol: str,
        quantity: str,
        price: str,
        *,
        account: str = TAXABLE,
        day: date = LONG_AGO,
        lot_id: str | None = None,
    ) -> str:
        """Import a bought lot (at the broker too) and return its lot id."""
        lot_id = lot_id or f"{symbol}-{account}-{day:%Y%m%d}"
        await self.record(
            Action.BUY, symbol, quantity, price, account=account, day=day, lot_id=lot_id
        )
        return lot_id

    async def record(
        self,
        action: Action,
        symbol: str,
        quantity: str,
        price: str,
        *,
        account: str = TAXABLE,
        day: date,
        lot_id: str | None = None,
    ) -> None:
        """Import one past trade into journal and ledger, and mirror it at the broker."""
        qty = Decimal(quantity)
        trade = Trade(
            next(self.seqs),
            day,
            account,
            action,
            symbol,
            qty,
            Decimal(price),
            lot_id=lot_id,
            source="history",
        )
        await self.engine.import_trades([trade], source="history")
        held = (await self.broker.positions()).get((account, symbol), Decimal(0))
        self.broker.set_position(account, symbol, held + (qty if action is Action.BUY else -qty))

    # -- market --------------------------------------------------------------------------------

    def market(self, symbol: str, bid: float, ask: float | None = None) -> Quote:
        """Set the broker's market for `symbol` without telling the daemon; return the quote."""
        quote = Quote(
            symbol, bid, ask if ask is not None else round(bid + 0.04, 2), self.clock.now()
        )
        self.broker.set_quote(quote)
        return quote

    async def quote(self, symbol: str, bid: float, ask: float | None = None) -> Quote:
        """Deliver a quote as the broker's stream does and let the daemon act on it."""
        quote = self.market(symbol, bid, ask)
        await self.deliver(quote)
        return quote

    async def deliver(self, quote: Quote) -> None:
        """Hand `quote` to the engine as it stands and drain everything it causes."""
        await self.engine.handle(quote)
        await self.engine.drain()

    def advance(self, **delta: float) -> None:
        """Move the simulated clock forward."""
        self.clock.advance(timedelta(**delta))

    # -- what was stored -----------------------------------------------------------------------

    async def journal(self, kind: JournalKind | None = None) -> list[JournalRecord]:
        """Return the journal (of one kind when given), in seq order."""
        records = await self.repo.load_journal()
        return [r for r in records if kind is None or r.kind is kind]

    async def fills(self) -> list[JournalRecord]:
        """Return the journaled broker fills."""
        return await self.journal(JournalKind.TRADE)

    def harvest_id(
        self, symbol: str, lot_id: str, *, account: str = TAXABLE, day: date | None = None
    ) -> str:
        """Return the client order id of the harvest of one lot decided on `day` (today)."""
        return intent_id(IntentKind.HARVEST_SELL, account, symbol, lot_id, day or self.today())

    async def intent(self, client_order_id: str) -> Intent:
        """Return the stored intent, which must exist."""
        stored = await self.repo.get_intent(client_order_id)
        assert stored is not None, f"no intent {client_order_id}"
        return stored

    async def buys_of(
        self, sale_id: str, kind: IntentKind = IntentKind.REPLACEMENT_BUY
    ) -> list[Intent]:
        """Return the buys that spent a sale's proceeds: the replacement, then its top-ups."""
        buys = []
        while buy := await self.repo.get_intent(follow_up_id(kind, sale_id, len(buys) + 1)):
            buys.append(buy)
        return buys

    async def close(self) -> None:
        """Stop the daemon (close the broker connection and the database)."""
        if not self.closed:
            self.closed = True
            await self.daemon.close()


async def open_rig(
    url: str,
    settings: Settings | None = None,
    *,
    broker: SimBroker | None = None,
    clock: SimulatedClock | None = None,
    costs: SimCosts | None = None,
    seqs: Iterator[int] | None = None,
    start: bool = True,
    fractional: bool = True,
) -> Rig:
    """Build a daemon on `url` and start it (startup = recovery) unless `start` is False."""
    settings = settings or make_settings()
    clock = clock or SimulatedClock(T0)
    broker = broker or SpyBroker(clock.now, costs, fractional=fractional)
    daemon = await build_daemon(settings, broker, clock.now, database_url=url)
    if isinstance(broker, SpyBroker):
        broker.repo = daemon.repo
    rig = Rig(daemon=daemon, broker=broker, clock=clock, settings=settings, url=url)
    if seqs is not None:
        rig.seqs = seqs
    if start:
        await rig.engine.start()
    return rig


class Rigs:
    """Open rigs on a database (a fresh SQLite file unless a URL is given); close them all."""

    def __init__(self, default_url: str) -> None:
        self.default_url = default_url
        self.opened: list[Rig] = []

    async def open(self, url: str | None = None, **options: Any) -> Rig:
        """Open (and start) a rig; see `daemonkit.open_rig` for the options."""
        start = options.pop("start", True)
        rig = await open_rig(url or self.default_url, start=False, **options)
        self.opened.append(rig)
        if start:
            await rig.engine.start()
        return rig

    async def restart(self, rig: Rig, **options: Any) -> Rig:
        """Close `rig` and start a new daemon on its database, broker and clock."""
        await rig.close()
        return await self.open(
            rig.url,
            settings=options.pop("settings", rig.settings),
            broker=rig.broker,
            clock=rig.clock,
            seqs=rig.seqs,
            **options,
        )
