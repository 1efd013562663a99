"""A real daemon driving a small direct index, on a real SQLite journal and the simulator.

The index: AAA and BBB (sector Tech), CCC and DDD (sector Energy), equal weights, held in the
taxable account as 100 shares each bought long ago at $100. The risk model is set by hand
(two sector factors and a small specific risk, `SECTOR_MODEL`), as the weekly estimate would
give after a history where the names of a sector move together.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from adapters.sim.broker import SimBroker
from daemon.app import Daemon, build_daemon
from daemon.clock import SimulatedClock
from daemon.events import Quote, Scheduled
from daemon.index_manager import IndexManager
from daemon.settings import Settings
from ledger.model import Action, Trade
from strategies.index.risk import RiskModel
from strategies.index.target import IndexTarget

NEW_YORK = ZoneInfo("America/New_York")
MONDAY = datetime(2024, 3, 4, 15, 30, tzinfo=NEW_YORK)  # the first session of an ISO week
LONG_AGO = date(2023, 6, 1)
ACCOUNT = "taxable"
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
SECTORS = {"AAA": "Tech", "BBB": "Tech", "CCC": "Energy", "DDD": "Energy"}
TARGET = IndexTarget({s: Decimal("0.25") for s in SYMBOLS}, SECTORS, "test")
SECTOR_MODEL = RiskModel(
    symbols=SYMBOLS,
    loadings=np.array([[0.25, 0.25, 0.0, 0.0], [0.0, 0.0, 0.25, 0.25]]),
    specific=np.full(4, 0.02),
    as_of=date(2024, 3, 1),
)


class CashSim(SimBroker):
    """The simulator, reporting the account's cash (`adapters.base.CashBalances`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cash = Decimal(0)

    async def cash_balance(self, account: str) -> Decimal:
        """Return the cash the test deposited."""
        return self.cash


def settings(**index: Any) -> Settings:
    """Return the household with the index (keyword arguments override `[index]` keys)."""
    return Settings(
        accounts={ACCOUNT: "taxable"},
        prices={"confirm_quotes": 0},
        index={
            "weights": "equal",
            "universe": list(SYMBOLS),
            "account": ACCOUNT,
            "max_tracking_error": "0.05",
            **index,
        },
    )


@dataclass
class IndexRig:
    """The daemon, its simulator and clock, and the index it drives."""

    daemon: Daemon
    broker: CashSim
    clock: SimulatedClock
    settings: Settings

    @property
    def index(self) -> IndexManager:
        """The direct index the engine drives."""
        assert self.daemon.index is not None
        return self.daemon.index

    def today(self) -> date:
        """The New York trading date."""
        return self.clock.now().astimezone(NEW_YORK).date()

    async def quote(self, symbol: str, bid: float) -> None:
        """Deliver a quote as the broker's stream does; let the daemon act on it."""
        quote = Quote(symbol, bid, round(bid + 0.02, 2), self.clock.now())
        self.broker.set_quote(quote)
        await self.daemon.engine.handle(quote)
        await self.daemon.engine.drain()

    async def quote_all(self, bid: float = 100.0) -> None:
        """Quote every index name at `bid`."""
        for symbol in SYMBOLS:
            await self.quote(symbol, bid)

    async def hook(self, name: str = "index_rebalance") -> None:
        """Run a scheduled hook of today, as the scheduler queues it."""
        await self.daemon.engine.handle(Scheduled(name, self.today()))  # type: ignore[arg-type]
        await self.daemon.engine.drain()

    def next_day(self, days: int = 1) -> None:
        """Move the clock to the same time `days` later."""
        self.clock.advance(timedelta(days=days))


async def open_index_rig(
    url: str, config: Settings | None = None, *, start: datetime = MONDAY
) -> IndexRig:
    """Start a daemon with the index held at its target weights, every name quoted at $100
    (`start`: when; the history is imported once per database)."""
    config = config or settings()
    clock = SimulatedClock(start)
    broker = CashSim(clock.now)
    daemon = await build_daemon(config, broker, clock.now, database_url=url, index_target=TARGET)
    seqs = itertools.count(1)
    trades = [
        Trade(
            next(seqs),
            LONG_AGO,
            ACCOUNT,
            Action.BUY,
            s,
            Decimal(100),
            Decimal(100),
            lot_id=f"{s}-1",
            source="history",
        )
        for s in SYMBOLS
    ]
    await daemon.engine.start()
    await daemon.engine.import_trades(trades, source="history")
    for s in SYMBOLS:
        broker.set_position(ACCOUNT, s, Decimal(100))
    rig = IndexRig(daemon, broker, clock, config)
    rig.index.risk = SECTOR_MODEL
    await rig.quote_all()
    return rig
